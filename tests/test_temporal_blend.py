"""Confidence-weighted carrying of the warped previous output, renewed once a period (temporal/stabilizer.py,
ops/warp.py, ops/blend.py)."""

from types import SimpleNamespace

import pytest
import torch

from pipeline.ops.blend import carry_weight, next_age, refresh_phase
from pipeline.ops.warp import flow_confidence, occlusion_mask, warp
from pipeline.options import TemporalOptions
from pipeline.temporal import stabilizer as stabilizer_module
from pipeline.temporal.stabilizer import Stabilizer

H, W = 24, 40


def _flows_with_an_occluder():
    """Everything moves 2 px right; in one patch the backward flow points elsewhere (an occluder moved in),
    so following it back and then forward again misses by 3 px; next to it the round trip misses by 0.5 px."""
    forward = torch.zeros(1, 2, H, W)
    forward[:, 0] = 2.0
    backward = -forward.clone()
    backward[:, 0, 6:14, 20:30] = 1.0  # forward-backward error 3 px: occluded
    backward[:, 0, 6:14, 8:16] = -1.5  # forward-backward error 0.5 px: uncertain, within the mask's tolerance
    return forward, backward


def test_confidence_is_low_where_forward_backward_disagree_and_full_where_they_agree():
    forward, backward = _flows_with_an_occluder()
    confidence, mask = flow_confidence(forward, backward), occlusion_mask(forward, backward)
    agree, uncertain, occluded = (slice(16, 22), slice(8, 16)), (slice(8, 12), slice(10, 14)), (slice(8, 12), slice(22, 28))
    assert confidence[0, 0][agree].min().item() > 0.9 and mask[0, 0][agree].min().item() == 1
    assert confidence[0, 0][occluded].max().item() == 0  # the binary test already rejects it
    # The binary mask keeps the uncertain patch fully; the confidence counts it for much less.
    assert mask[0, 0][uncertain].min().item() == 1
    assert 0.2 < confidence[0, 0][uncertain].max().item() < 0.8


def test_blend_weight_follows_the_confidence():
    forward, backward = _flows_with_an_occluder()
    stabilizer = SimpleNamespace(opts=TemporalOptions(), _phase=lambda like: torch.zeros(1, 1, *like.shape[-2:]))
    # Frame 1 of a run: every pixel one frame into its renewal period, nothing renewed yet.
    weight, age = Stabilizer._blend_weight(stabilizer, backward, flow_confidence(forward, backward), None, 1)
    weight = weight[0, 0]
    assert weight[16:22, 8:16].mean().item() > 0.9  # moving, reliable: carried whole, not averaged
    assert 0 < weight[8:12, 10:14].mean().item() < 0.75 * weight[16:22, 8:16].mean().item()
    assert weight[8:12, 22:28].max().item() == 0
    assert age[0, 0, 16:22, 8:16].eq(1).all() and age[0, 0, 8:12, 22:28].eq(0).all()  # the occluded patch starts over


def test_carried_texture_is_renewed_once_a_period_in_patches():
    """Ages move on a frame at a time; a pixel is renewed (weight 0) when its age reaches the period, and
    the renewal is staggered: each frame renews about 1/period of the picture, not all of it at once."""
    period = 6.0
    phase = refresh_phase(1, 48, 96, period, "cpu")
    assert phase.eq(phase.round()).all() and phase.min() == 0 and phase.max() == period - 1
    confidence, age, renewed = torch.ones(1, 1, 48, 96), phase.clone(), []
    for _ in range(12):
        age = age + 1
        weight = carry_weight(age, confidence, period)
        assert weight.eq(0).logical_or(weight.eq(1)).all()  # carried or renewed, never averaged
        renewed.append(weight.eq(0).float().mean().item())
        age = torch.where(weight >= 0.5, age, 0.0)
    assert all(0.1 < r < 0.25 for r in renewed), renewed  # about 1/6 a frame
    assert torch.equal(refresh_phase(1, 48, 96, period, "cpu"), phase)  # fixed: every lane gets the same


def test_bicubic_warp_softens_a_texture_less_than_bilinear_over_repeated_warps():
    texture = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    there = torch.full((1, 2, 48, 48), 0.5)
    back = -there
    detail = {}
    for mode in ("bilinear", "bicubic"):
        image = texture
        for _ in range(3):
            image = warp(warp(image, there, mode), back, mode)
        detail[mode] = image[..., 8:-8, 8:-8].std().item()
    assert detail["bicubic"] > 1.2 * detail["bilinear"]


def test_renewal_patches_are_large_so_few_pixels_sit_on_a_seam():
    """Every seam between a carried and a renewed texture costs style (docs/TEMPORAL.md, "48 frames"): at the
    work size of 256 the patches span about 3/8 of the long side, so under 10 % of neighbouring pixel pairs
    renew on different frames (24 px cells put 17 % there); the phases still spread evenly over the period."""
    period = 10
    phase = refresh_phase(1, 144, 256, period, "cpu")[0, 0]
    seams = ((phase[:, 1:] != phase[:, :-1]).float().mean() + (phase[1:] != phase[:-1]).float().mean()) / 2
    assert seams.item() < 0.1
    counts = torch.bincount(phase.flatten().long(), minlength=period)
    assert counts.min().item() >= 0.99 * counts.max().item()  # each frame renews a tenth of the picture
    small = refresh_phase(1, 144, 256, period, "cpu", cell=24)[0, 0]
    assert ((small[:, 1:] != small[:, :-1]).float().mean() + (small[1:] != small[:-1]).float().mean()).item() / 2 > 0.15


def test_a_fade_spreads_the_renewal_over_its_last_frames_and_still_renews_once_a_period():
    """With a fade of 2 the weight goes 1, ..., 1, 1/2, 0 over a period: the jump to the fresh texture comes in
    two halves, and the age runs on through the half-way frame (the weight alone would restart it there, and the
    half-mixed texture would be carried for a whole period); with a fade of 1 the texture is swapped at once."""
    confidence = torch.full((1, 1, 2, 2), 0.9)
    for fade, expected in ((1, [1, 1, 1, 1, 0]), (2, [1, 1, 1, 0.5, 0])):
        age, weights, ages = torch.zeros(1, 1, 2, 2), [], []
        for _ in range(5):
            age = age + 1
            weights.append(carry_weight(age, confidence, 5, fade)[0, 0, 0, 0].item() / 0.9)
            age = next_age(age, confidence, 5)
            ages.append(age[0, 0, 0, 0].item())
        assert weights == pytest.approx(expected)
        assert ages == [1, 2, 3, 4, 0]  # renewed at the period's end, whatever the fade
    assert next_age(torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.4), 5).item() == 0  # unsure flow: renewed


def test_still_pixels_fade_in_their_renewal_and_moving_ones_swap_at_once():
    """A pixel moving 0.6 px a frame (a slow pan, camera shake, compression noise in the flow) counts as still:
    the still period and the two-frame fade; one moving 2 px a frame keeps the moving period and is swapped in
    one frame."""
    backward = torch.zeros(1, 2, 8, 16)
    backward[:, 0, :, :4] = 0.6
    backward[:, 0, :, 8:] = 2.0
    confidence = torch.ones(1, 1, 8, 16)
    stabilizer = SimpleNamespace(opts=TemporalOptions(), _phase=lambda like: torch.zeros(1, 1, *like.shape[-2:]))
    carried = torch.zeros(1, 1, 8, 16)
    carried[..., :8] = 8  # still: period 10, so 9 after this frame's +1, 10 after the next
    carried[..., 8:] = 4  # moving: period 6, so 5, then 6
    weight, age = Stabilizer._blend_weight(stabilizer, backward, confidence, carried, 1)
    assert weight[..., :8].eq(0.5).all() and age[..., :8].eq(9).all()  # still, slow pan included: half-way
    assert weight[..., 8:].eq(1).all() and age[..., 8:].eq(5).all()  # moving: still carried whole
    weight, age = Stabilizer._blend_weight(stabilizer, backward, confidence, age, 2)
    assert weight.eq(0).all() and age.eq(0).all()  # both renewed


def _still_shot_flicker(fade: float, frames: int = 30) -> float:
    """The mean squared change from frame to frame of a still shot whose content slowly changes (one texture
    dissolving into another), carried and renewed by ``Stabilizer._blend_weight`` with the still fade set to
    ``fade`` (zero flow: the carried frame is the previous output as it is)."""
    generator = torch.Generator().manual_seed(0)
    first, last = torch.rand(2, 1, 3, 48, 64, generator=generator)
    opts = TemporalOptions()
    phase = refresh_phase(1, 48, 64, opts.carry_period(still=True), "cpu")
    stabilizer = SimpleNamespace(opts=opts, _phase=lambda like: phase)
    still, confidence = torch.zeros(1, 2, 48, 64), torch.ones(1, 1, 48, 64)
    saved, stabilizer_module.STILL_FADE = stabilizer_module.STILL_FADE, fade
    try:
        previous, age, changes = first, None, []
        for index in range(1, frames):
            fresh = first + (last - first) * index / frames
            weight, age = Stabilizer._blend_weight(stabilizer, still, confidence, age, index)
            out = fresh + weight * (previous - fresh)
            changes.append((out - previous).pow(2).mean().item())
            previous = out
    finally:
        stabilizer_module.STILL_FADE = saved
    return sum(changes) / len(changes)


def test_fading_in_still_renewals_lowers_the_flicker_of_slowly_changing_content():
    """Where the content stands still but changes (a slow pan under the still threshold, light, compression),
    the texture carried for a period drifts from the fresh one and its renewal is a jump; fading it in over two
    frames halves each jump and lowers the flicker (the mean squared change from frame to frame) by about half."""
    swapped, faded = _still_shot_flicker(1.0), _still_shot_flicker(2.0)
    assert faded < 0.7 * swapped, (faded, swapped)
