"""Confidence-weighted carrying of the warped previous output, renewed once a period (temporal/stabilizer.py,
ops/warp.py, ops/blend.py)."""

from types import SimpleNamespace

import torch

from pipeline.ops.blend import carry_weight, refresh_phase
from pipeline.ops.warp import flow_confidence, occlusion_mask, warp
from pipeline.options import TemporalOptions
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
