"""The seam that masks and keyframes use: per-frame, per-region targets into the stylizer (``FrameTargets``),
each style encoded and calibrated once (``StyleBank``), and the region maths of ``ops/regions.py``."""

from __future__ import annotations

import pytest
import torch

from pipeline.ops.adain import adain_stats
from pipeline.ops.regions import adain_regions, composite, masked_mean_std
from tests.helpers import ROOT, STYLE_PATH, make_stylizer


def test_masked_stats_are_the_region_stats():
    feat = torch.randn(2, 8, 6, 10)
    left = torch.zeros(2, 1, 6, 10)
    left[..., :5] = 1
    mean, std = masked_mean_std(feat, left)
    region = feat[..., :5].reshape(2, 8, -1)
    assert torch.allclose(mean.flatten(1), region.mean(-1), atol=1e-5)
    assert torch.allclose(std.flatten(1), region.std(-1, unbiased=False), atol=1e-4)


def test_each_region_takes_its_own_style_statistics():
    feat = torch.randn(2, 8, 6, 10)
    left = torch.zeros(2, 1, 6, 10)
    left[..., :5] = 1
    means, stds = torch.randn(2, 2, 8, 1, 1), torch.rand(2, 2, 8, 1, 1) + 0.5
    out = adain_regions(feat, means, stds, torch.cat([left, 1 - left], 1))
    for k, mask in enumerate((left, 1 - left)):
        mean, std = masked_mean_std(out, mask)
        assert torch.allclose(mean, means[:, k], atol=1e-4) and torch.allclose(std, stds[:, k], atol=1e-3)
    # one region covering the frame is plain AdaIN; what no mask covers keeps the content's features
    assert torch.allclose(adain_regions(feat, means[:, :1], stds[:, :1]), adain_stats(feat, means[:, 0], stds[:, 0]))
    kept = adain_regions(feat, means[:, :1], stds[:, :1], left)
    assert torch.equal(kept[..., 5:], feat[..., 5:])


def test_composite_keeps_the_source_where_no_mask_covers():
    hard = torch.zeros(1, 1, 4, 20)
    hard[..., :10] = 1
    stylized, source = torch.ones(1, 3, 4, 20), torch.zeros(1, 3, 4, 20)
    out = composite(stylized, source, hard)
    assert torch.equal(out[..., :10], stylized[..., :10]) and torch.equal(out[..., 10:], source[..., 10:])


@pytest.fixture(scope="module")
def two_styles():
    from pipeline.build import build_style_bank

    other = ROOT / "samples" / "style" / "starry_night.jpg"
    stylizer = make_stylizer(None, STYLE_PATH, size=64)  # not calibrated (tests' PLAIN): nor is the bank
    images = [stylizer.target.images[0], make_stylizer(None, other, size=64).target.images[0]]
    bank = build_style_bank(stylizer.nets, images, ["a", "b"], 0)
    return stylizer, bank


def test_targets_of_one_style_give_the_stylizers_own_output(two_styles):
    stylizer, bank = two_styles
    batch = torch.rand(2, 3, 40, 56)
    targets = bank.targets(torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]]))
    assert torch.allclose(stylizer(batch, targets), stylizer(batch), atol=1e-5)


def test_a_mix_of_styles_lies_between_them(two_styles):
    stylizer, bank = two_styles
    batch = torch.rand(1, 3, 40, 56).expand(3, -1, -1, -1)
    weights = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]], [[0.0, 1.0]]])
    a, mid, b = stylizer(batch, bank.targets(weights))
    assert float((mid - a).abs().mean()) < float((b - a).abs().mean())
    assert float((mid - b).abs().mean()) < float((b - a).abs().mean())


def test_a_bank_calibrates_each_style_as_a_stylizer_does():
    from pipeline.build import build_style_bank

    stylizer = make_stylizer(None, STYLE_PATH, size=64, calibrate=True, calibration_size=64)
    bank = build_style_bank(stylizer.nets, list(stylizer.target.images), ["a"], 64)
    target = stylizer.target
    assert torch.allclose(bank.mean, target.mean + target.shift) and torch.allclose(bank.std, target.std * target.gain)
