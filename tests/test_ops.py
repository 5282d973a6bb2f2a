"""AdaIN maths, interpolation, alpha and colour preservation against hand-computed examples."""

import pytest
import torch

from pipeline.calibration import calibrate
from pipeline.ops.adain import (EPS, adain, adain_stats, blend, calc_mean_std, correct_stats, mix_layer_stats,
                                mix_style_stats)
from pipeline.ops.color import coral, rgb_to_yiq, transfer_luminance, yiq_to_rgb
from pipeline.ops.losses import channel_stats, gram_matrix, outside_range, stats_distance, stats_distance_terms


def test_calc_mean_std_by_hand():
    feat = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    mean, std = calc_mean_std(feat, eps=0.0)
    assert mean.shape == (1, 1, 1, 1)
    assert mean.item() == pytest.approx(2.5)
    assert std.item() == pytest.approx((5.0 / 3.0) ** 0.5)  # unbiased variance of 1..4 is 5/3


def test_adain_by_hand():
    content = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    style = torch.tensor([10.0, 10.0, 30.0, 30.0]).reshape(1, 1, 2, 2)  # mean 20, unbiased std 20/sqrt(3)*sqrt(3)
    out = adain(content, style)
    s_std = torch.tensor([10.0, 10.0, 30.0, 30.0]).var().add(1e-5).sqrt()
    c_std = torch.tensor([1.0, 2.0, 3.0, 4.0]).var().add(1e-5).sqrt()
    expected = (torch.tensor([1.0, 2.0, 3.0, 4.0]) - 2.5) / c_std * s_std + 20.0
    assert torch.allclose(out.flatten(), expected, atol=1e-4)
    mean, std = calc_mean_std(out)
    assert mean.item() == pytest.approx(20.0, abs=1e-4)
    assert std.item() == pytest.approx(s_std.item(), rel=1e-4)


def test_adain_is_per_channel_and_per_sample():
    torch.manual_seed(0)
    content = torch.randn(2, 3, 8, 8) * 5 + 2
    style = torch.randn(2, 3, 4, 4) * torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1) + 7
    out_mean, out_std = calc_mean_std(adain(content, style))
    s_mean, s_std = calc_mean_std(style)
    assert torch.allclose(out_mean, s_mean, atol=1e-4)
    assert torch.allclose(out_std, s_std, atol=1e-3)


def test_mix_style_stats_equals_weighted_sum_of_adain_outputs():
    torch.manual_seed(0)
    content = torch.randn(1, 4, 6, 6)
    styles = [torch.randn(1, 4, 5, 5) * (i + 1) + i for i in range(3)]
    weights = torch.tensor([1.0, 2.0, 1.0])
    reference = sum(w / weights.sum() * adain(content, s) for w, s in zip(weights, styles))
    stats = [calc_mean_std(s) for s in styles]
    mean, std = mix_style_stats(torch.cat([m for m, _ in stats]), torch.cat([s for _, s in stats]), weights)
    c_mean, c_std = calc_mean_std(content)
    assert torch.allclose((content - c_mean) / c_std * std + mean, reference, atol=1e-5)


def test_mix_style_stats_by_hand():
    means = torch.tensor([0.0, 10.0]).reshape(2, 1, 1, 1)
    stds = torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1)
    mean, std = mix_style_stats(means, stds, torch.tensor([3.0, 1.0]))
    assert mean.item() == pytest.approx(2.5) and std.item() == pytest.approx(1.5)


def test_correct_stats_by_hand():
    one = lambda *v: torch.tensor(v).reshape(1, len(v), 1, 1)
    mean, std = correct_stats(one(1.0, 1.0), one(2.0, 2.0), target_mean=one(5.0, 5.0), target_std=one(3.0, 3.0),
                              out_mean=one(4.0, 6.0), out_std=one(1.5, 0.5))
    assert mean.flatten().tolist() == [2.0, 0.0]  # moved by what the output missed
    assert std.flatten().tolist() == [4.0, 4.0]  # scaled by the missed ratio: 3 / 1.5, and 3 / 0.5 clamped to 2


def test_calibration_undoes_a_decoder_that_misses_by_a_per_channel_affine_map():
    """A stand-in decoder that scales each channel by ``a`` and shifts it by ``b``: calibration must find the
    statistics that make its output hit the wanted ones, which AdaIN to the plain ones misses."""
    torch.manual_seed(0)
    a = torch.tensor([0.7, 1.0, 1.3]).reshape(1, 3, 1, 1)
    b = torch.tensor([0.5, -0.2, 0.0]).reshape(1, 3, 1, 1)
    decode, encode = (lambda t: t * a + b), (lambda x: x)
    photos = [torch.randn(1, 3, 8, 8) * 2 + 1, torch.randn(1, 3, 6, 10) - 3]
    mean, std = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1), torch.tensor([0.5, 1.0, 2.0]).reshape(1, 3, 1, 1)
    miss = lambda m, s: max((calc_mean_std(decode(adain_stats(f, m, s)))[i] - w).abs().max().item()
                            for f in photos for i, w in enumerate((mean, std)))
    assert miss(mean, std) > 0.5
    shift, gain = calibrate(encode, decode, photos, mean, std, steps=4)
    assert miss(mean + shift, std * gain) < 0.05 * miss(mean, std)
    assert torch.allclose(gain, 1 / a, atol=1e-4)  # the std is right after one step, the mean converges
    shift, gain = calibrate(encode, decode, photos, mean, std, steps=0)
    assert torch.equal(shift, torch.zeros_like(mean)) and torch.equal(gain, torch.ones_like(std))


def test_blend_alpha():
    content, stylized = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 8.0)
    assert torch.equal(blend(content, stylized, 1.0), stylized)
    assert torch.equal(blend(content, stylized, 0.0), content)
    assert torch.allclose(blend(content, stylized, 0.25), torch.full((1, 1, 2, 2), 2.0))


def test_coral_matches_target_mean_and_covariance():
    torch.manual_seed(0)
    source = torch.rand(3, 32, 32) * torch.tensor([0.3, 0.6, 0.2]).reshape(3, 1, 1) + 0.1
    mix = torch.tensor([[0.5, 0.2, 0.1], [0.1, 0.3, 0.1], [0.2, 0.1, 0.2]])
    target = (mix @ torch.rand(3, 40 * 40)).reshape(3, 40, 40) + 0.2
    out = coral(source, target)
    flat_out, flat_tgt = out.reshape(3, -1), target.reshape(3, -1)
    assert torch.allclose(flat_out.mean(1), flat_tgt.mean(1), atol=1e-3)
    assert torch.allclose(torch.cov(flat_out), torch.cov(flat_tgt), atol=1e-3)


def test_coral_identity_when_statistics_already_match():
    torch.manual_seed(0)
    image = torch.rand(3, 16, 16) * 0.5 + 0.25
    assert torch.allclose(coral(image, image), image, atol=1e-4)


def test_yiq_round_trip_and_grey_has_no_chroma():
    grey = torch.full((1, 3, 2, 2), 0.4)
    yiq = rgb_to_yiq(grey)
    assert torch.allclose(yiq[:, 0], torch.full((1, 2, 2), 0.4), atol=1e-5)
    assert torch.allclose(yiq[:, 1:], torch.zeros(1, 2, 2, 2), atol=1e-5)
    image = torch.rand(2, 3, 5, 5)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-5)


def test_luminance_transfer_keeps_content_chroma_and_stylized_luma():
    stylized = torch.full((1, 3, 2, 2), 0.6)  # grey: luma 0.6
    content = torch.tensor([0.6, 0.3, 0.2]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = transfer_luminance(stylized, content)
    assert torch.allclose(rgb_to_yiq(out)[:, 0], torch.full((1, 2, 2), 0.6), atol=1e-4)
    assert torch.allclose(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-4)


def test_style_stat_distance_by_hand():
    a = torch.zeros(1, 2, 2, 2)
    b = torch.zeros(1, 2, 2, 2)
    b[:, 0] = 3.0  # mean differs by 3 in channel 0; stds equal
    b[:, 1] = 4.0
    # second layer: mean 1 and unbiased std sqrt(4/3) against a flat map (std sqrt(EPS))
    c = torch.tensor([0.0, 2.0]).repeat(2).reshape(1, 1, 2, 2)
    targets = channel_stats([b, torch.zeros(1, 1, 2, 2)])
    terms = stats_distance_terms([a, c], targets)
    assert terms.shape == (1, 2, 2)
    std_term = (4 / 3) ** 0.5 - EPS ** 0.5
    assert terms.flatten().tolist() == pytest.approx([5.0, 0.0, 1.0, std_term], abs=1e-3)
    assert stats_distance([a, c], targets).item() == pytest.approx(6.0 + std_term, abs=1e-3)


def test_gram_matrix_by_hand():
    feat = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    gram = gram_matrix(feat)
    assert torch.allclose(gram[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("symmetric", [True, False])
def test_gram_matrix_gradient_is_autograds(symmetric, layout):
    """One product in the backward instead of autograd's two: the same gradient to rounding, for the
    symmetric gradients a loss against a Gram target gives and for any other, from NCHW features and from
    channels_last ones (bf16 features' layout), each read in place."""
    feat = torch.randn(2, 8, 5, 7, generator=torch.Generator().manual_seed(0)).to(memory_format=layout)
    upstream = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(1))
    upstream = upstream + upstream.transpose(1, 2) if symmetric else upstream
    grads = []
    for gram in (gram_matrix, lambda f: f.flatten(2) @ f.flatten(2).transpose(1, 2) / (5 * 7)):
        x = feat.clone().requires_grad_(True)
        (gram(x) * upstream).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(*grads, atol=1e-5) and not torch.equal(grads[0], torch.zeros_like(grads[0]))


def test_outside_range_is_the_mean_square_distance_from_the_range():
    image = torch.tensor([-0.5, 0.0, 0.3, 1.0, 1.25]).reshape(1, 1, 1, 5).requires_grad_(True)
    penalty = outside_range(image)
    assert penalty.item() == pytest.approx((0.25 + 0.0625) / 5)
    penalty.backward()  # pulls the pixels outside back in, leaves those inside alone
    assert image.grad.flatten().tolist() == pytest.approx([-0.2, 0.0, 0.0, 0.0, 0.1])


def test_mix_layer_stats_mixes_each_layer_with_the_same_weights():
    """Layers of different widths stay apart; weights (3, 1) give 3/4 of the first style at every layer."""
    a = [(torch.full((1, c, 1, 1), 4.0), torch.full((1, c, 1, 1), 8.0)) for c in (2, 5)]
    b = [(torch.zeros(1, c, 1, 1), torch.full((1, c, 1, 1), 4.0)) for c in (2, 5)]
    mixed = mix_layer_stats([a, b], torch.tensor([3.0, 1.0]))
    assert [m.shape[1] for m, _ in mixed] == [2, 5]
    for mean, std in mixed:
        assert torch.allclose(mean, torch.tensor(3.0)) and torch.allclose(std, torch.tensor(7.0))
