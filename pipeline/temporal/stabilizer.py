"""Flicker-free feed-forward video: smoothed AdaIN statistics, flow-warped blending, refined keyframes.

Per-frame AdaIN flickers because every frame is normalised with its own statistics and decoded on its
own. Two cheap remedies, selectable and combinable:

- ``stats``: the relu4_1 content statistics follow an exponential moving average over time;
- ``warp``: the previous stylized frame is warped to the current one with optical flow (computed on
  the input frames) and blended in where the occlusion mask says the flow is reliable, weighted by how well
  the forward and backward flows agree (an uncertain flow blends in a misplaced texture and washes the style
  out); the blend then gets the fresh frame's colour statistics back, since averaging textures lowers their
  contrast. Where the style is still lost, and what was tried: docs/TEMPORAL.md, "Flicker against style".

Keyframes (every ``refine_every`` frames and at scene cuts) can be refined with Gatys optimisation,
starting from the AdaIN output with Ruder's temporal loss against the warped previous output; the
warp blend then carries the refinement on to the following frames. With ``refine_every == 1`` (Gatys
on every frame) each frame starts from the warped previous result instead, so later frames need few
iterations. Scene cuts reset all state.

What carries from frame to frame is a ``TemporalState`` value passed into ``Stabilizer.step`` and
returned by it (the caller keeps it: one per lane), never kept inside the stabilizer.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import torch

from pipeline.ops.adain import adain, calc_mean_std
from pipeline.ops.blend import carry_weight, next_age, refresh_phase
from pipeline.ops.warp import warp
from pipeline.options import TemporalMode, TemporalOptions
from pipeline.temporal.flow import Guide, make_flow_estimator

STILL_PX = 0.75  # motion (pixels per frame at work size) below which a pixel counts as still
STILL_FADE = 2.0  # frames over which a still pixel's renewal fades in (1: swapped at once, as where it moves)
FLOW_THREADS = min(8, os.cpu_count() or 1)  # OpenCV releases the GIL: flows of a batch run side by side
Stats = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class TemporalState:
    """What one frame hands the next: the previous input's cues and stylized output, the smoothed content
    statistics, and frames since the last keyframe. ``TemporalState()`` is the state at a scene cut or at a
    segment's start."""

    guide: Guide | None = None
    output: torch.Tensor | None = None
    stats: Stats | None = None
    since_key: int = 0
    clock: int = 0  # the index of the next frame, when the caller gives none
    age: torch.Tensor | None = None  # frames each pixel's texture has been carried by the warp blend


def smooth_stats(stats: Stats | None, feats: torch.Tensor, cuts: list[bool], momentum: float) -> tuple[Stats, Stats]:
    """The moving average of the relu4_1 content statistics over a batch of consecutive frames, restarted at
    cuts: (per-frame statistics (N, C, 1, 1) each, the last frame's to carry on)."""
    mean, std = calc_mean_std(feats.float())
    means, stds = [], []
    for i, cut in enumerate(cuts):
        if stats is None or cut:
            stats = (mean[i:i + 1], std[i:i + 1])
        else:
            stats = (momentum * stats[0] + (1 - momentum) * mean[i:i + 1],
                     momentum * stats[1] + (1 - momentum) * std[i:i + 1])
        means.append(stats[0])
        stds.append(stats[1])
    return (torch.cat(means), torch.cat(stds)), stats


class Stabilizer:
    """Stylizes runs of consecutive frames with temporal consistency; holds the networks, the refiner and
    the flow threads, and no per-video state (``step`` takes and returns it)."""

    def __init__(self, stylizer, opts: TemporalOptions, refiner=None) -> None:
        if opts.refine_every and refiner is None:
            raise ValueError("keyframe refinement needs a Gatys refiner")
        self.stylizer, self.opts, self.refiner = stylizer, opts, refiner
        self.device = stylizer.device
        self.flow = make_flow_estimator(opts.flow, self.device, opts.flow_size)
        self.carries = opts.mode in (TemporalMode.WARP, TemporalMode.FULL) or bool(opts.refine_every)
        # Made here, not on first use: lanes share this stabilizer. Its threads start with the first flow.
        host_flows = self.carries and not self.flow.on_device
        self._pool = ThreadPoolExecutor(FLOW_THREADS, thread_name_prefix="flow") if host_flows else None
        self._phases: dict = {}  # (size, device) -> each pixel's renewal phase; the same for all lanes

    def close(self) -> None:
        """Stop the flow threads (waiting for running flows), so none outlives the job."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def step(self, state: TemporalState, batch: torch.Tensor, guides: list[Guide], targets=None,
             indices: list[int] | None = None) -> tuple[torch.Tensor, TemporalState]:
        """(N, 3, H, W) consecutive frames in [0, 1] on the device and their cues -> the stylized frames and the
        state after the last of them; ``targets``: the frames' ``stylizer.FrameTargets`` (masks, keyframes);
        ``indices``: the frames' indices in the video (when the carried texture is renewed: the same in every
        lane), else counted on from ``state.clock``."""
        indices = indices if indices is not None else list(range(state.clock, state.clock + len(batch)))
        state = replace(state, clock=indices[-1] + 1)
        batch = batch.to(self.device, torch.float32)
        previous = [state.guide, *guides[:-1]]
        cuts = self.flow.cuts(previous, guides, self.opts.cut_threshold)
        if targets is not None and targets.restart is not None:  # the style jumps: a scene, a keyframe cut
            cuts = [cut or restart for cut, restart in zip(cuts, targets.restart)]
        # Flows depend on the inputs alone: OpenCV's run on CPU threads while the networks run, torch's are
        # queued on the device before them.
        flows = self.flow.start_flows(previous, guides, cuts, self._pool) if self.carries else []
        encoded = self.stylizer.encode_batch(batch)
        stats = None
        if self.opts.mode in (TemporalMode.STATS, TemporalMode.FULL):
            stats, carried = smooth_stats(state.stats, encoded.feats, cuts, self.opts.strength)
            state = replace(state, stats=carried)
        out = self.stylizer.decode_batch(encoded, stats, targets)
        if not self.carries:
            return out, replace(state, guide=guides[-1])
        frames = []
        for i, flow in enumerate(flows):
            frame, state = self._carry(state, batch[i:i + 1], guides[i], out[i:i + 1], flow, indices[i])
            frames.append(frame)
        return torch.cat(frames), state

    def _blend_weight(self, backward: torch.Tensor, confidence: torch.Tensor, age: torch.Tensor | None,
                      index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """How much of the warped previous output to keep, per pixel, and the carried texture's age after this
        frame. All of it, scaled by the flow's confidence (zero where the flow is unreliable), until the texture
        has been carried for a period; then the fresh frame renews it (ops/blend.carry_weight). Averaging
        textures that do not line up washes the style out, so the carried texture is kept whole and renewed
        instead. Where the content stands still the warp moves nothing and the period is longer
        (``still_strength``) than under motion (``strength``), where every warp also resamples the texture.
        The ages move with the content (``age``: the previous ones, warped), and restart from a fixed pattern
        in staggered patches once every still period of frame indices, so a run started part way (a lane, a
        resumed segment) has the same ages as one from the start after its warm-up. Where the content stands
        still the renewal fades in over ``STILL_FADE`` frames: there the jump to the fresh texture is most of the
        flicker left, and averaging there costs no style, unlike where it moves (docs/TEMPORAL.md, "Still content")."""
        still = backward.pow(2).sum(1, keepdim=True) < STILL_PX**2
        moving, steady = self.opts.carry_period(still=False), self.opts.carry_period(still=True)
        period = torch.where(still, float(steady), float(moving))
        if age is None or index % max(1, steady) == 0:
            age = torch.remainder(self._phase(backward) + index, period.clamp(min=1))
        else:
            age = age + 1
        weight = carry_weight(age, confidence, period, torch.where(still, min(STILL_FADE, max(1, steady)), 1.0))
        return weight, next_age(age, confidence, period)

    def _carry(self, state: TemporalState, content: torch.Tensor, guide: Guide, out: torch.Tensor,
               flow: Future | None, index: int) -> tuple[torch.Tensor, TemporalState]:
        """Blend in the warped previous output (or refine a keyframe) for frame ``index``; ``flow`` is None at a
        cut."""
        temporal = backward = age = None
        every = self.opts.refine_every
        key = self.refiner is not None and (flow is None or (every and state.since_key + 1 >= every))
        if flow is not None and state.output is not None:
            # A keyframe's temporal loss takes the binary mask; a blend weighs by the soft confidence and
            # warps bicubically, as the blended frame is warped again for every frame that follows.
            backward, mask = self.flow.backward_and_mask(*flow.result(), tuple(out.shape[-2:]), out.device,
                                                         soft=not key)
            temporal = (warp(state.output, backward, "bilinear" if key else "bicubic"), mask)
        if key:
            init = self.refiner.start(content, out)  # --init: the AdaIN output unless asked otherwise
            if temporal is not None and every == 1:  # every frame optimised: start from the warped previous
                init = init + temporal[1] * (temporal[0] - init)
            out = self.refiner.refine(content, init=init, temporal=temporal)
            since_key = 0
        else:
            since_key = state.since_key + 1
            if temporal is not None and self.opts.mode in (TemporalMode.WARP, TemporalMode.FULL):
                carried = warp(state.age, backward, "nearest") if state.age is not None else None  # whole frames
                weight, age = self._blend_weight(backward, temporal[1], carried, index)
                blended = out + weight * (temporal[0] - out)
                # Averaging two textures lowers their contrast: AdaIN in RGB gives the blend back the fresh
                # frame's per-channel mean and spread.
                out = adain(blended, out).clamp(0, 1)
        return out, replace(state, guide=guide, output=out, since_key=since_key, age=age)

    def _phase(self, like: torch.Tensor) -> torch.Tensor:
        """The renewal phase of each pixel at ``like``'s size (ops/blend.refresh_phase), made once per size."""
        key = (tuple(like.shape[-2:]), like.device)
        if key not in self._phases:
            period = max(self.opts.carry_period(still=True), self.opts.carry_period(still=False))
            self._phases[key] = refresh_phase(1, *key[0], period, like.device)
        return self._phases[key]
