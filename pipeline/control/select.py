"""The control a run's options ask for, made for one video's plan (``FrameControl``), or None."""

from __future__ import annotations

from pipeline.control.bank import FrameControl, StyleBank


def video_control(bank: StyleBank | None, plan, masks=None) -> FrameControl | None:
    """What gives each batch of ``plan``'s video its style targets: masks (``masks``, each style's mask file,
    where they are not the run's: a folder's animation has its own), a keyframe schedule, one style per scene;
    None for the stylizer's fixed target."""
    if bank is None or not bank.control.active:
        return None
    if bank.control.masked:
        from pipeline.control.masks import MaskControl

        return MaskControl(bank, plan, masks)
    return _timeline(bank, plan)


def _timeline(bank: StyleBank, plan) -> FrameControl:
    """A keyframe schedule, or one style per scene (the plan's cuts; found here when a plan made without
    them, as a script's, comes in)."""
    from pipeline.control.timeline import first_frame_seconds, keyframe_control, scene_control

    if bank.control.keyframes is not None:
        return keyframe_control(bank, bank.control.schedule, plan.info.rate, first_frame_seconds(plan.info))
    cuts = plan.scene_cuts
    if cuts is None:
        from pipeline.control.scenes import find_scene_cuts

        cuts = find_scene_cuts(plan.info, plan.video)
    return scene_control(bank, cuts)
