"""Creative control: which style applies where (masks) and when (keyframes, scenes).

Every control reduces to one value per batch, ``stylizer.FrameTargets`` (per-frame, per-region style
statistics and masks), that the caller hands the stylizer with the frames: the render loop has no branch
for it. ``bank.py`` holds each style of a run encoded once; a control (``FrameControl``) maps frames to
targets.
"""
