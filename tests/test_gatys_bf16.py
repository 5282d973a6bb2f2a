"""Gatys on the CPU in bf16 (``gatys_bf16.py``): where the run's networks are bf16 or lower and the CPU has
native bf16, never at ``--precision fp32``; on a small pair it reaches the fp32 run's final loss (scored in
fp32), the image, the L-BFGS state and the targets kept in fp32."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import pipeline.gatys_bf16 as gatys_bf16
from pipeline.backends import backend
from pipeline.build import build_refiner, describe_networks, load_style_images
from pipeline.gatys import GatysLoss, GatysStylizer, feature_net, gatys, style_targets
from pipeline.gatys_bf16 import BF16_BACKENDS, Bf16Features, cpu_features_dtype
from pipeline.options import GatysOptions
from tests.conftest import SAMPLES
from tests.helpers import STYLE_PATH, make_stylizer

OPTS = GatysOptions(iterations=15)


@pytest.fixture(scope="module")
def pair():
    return load_style_images([SAMPLES / "content" / "astronaut.jpg", STYLE_PATH], 96)


@pytest.fixture(scope="module")
def padded(encoder):
    return encoder.reflect_padded()  # what the stylizer hands the refiner


def _refiner(encoder, style, cpu, opts: GatysOptions = OPTS) -> GatysStylizer:
    stylizer = SimpleNamespace(device=torch.device("cpu"), dtype=torch.float32, encoder=encoder, styles=[style],
                               weights=torch.ones(1), nets=SimpleNamespace(backend=cpu))
    return GatysStylizer(stylizer, opts)


@pytest.mark.parametrize("cpu, native, expected", [
    (backend("bf16"), True, torch.bfloat16),  # --precision bf16 or --cpu-backend bf16
    (backend("bf16"), False, torch.float32),  # emulated bf16 is slow: never for Gatys
    (backend("nnpack"), True, torch.float32),  # --precision fp32
    (backend("onednn"), True, torch.float32),
    (backend("bf16", (("bf16", 0.04), ("onednn", 0.07))), True, torch.bfloat16),  # auto's probe timed bf16 faster
    (backend("openvino", (("openvino", 0.03), ("bf16", 0.04))), True, torch.bfloat16),
    (backend("int8", (("int8", 0.02), ("bf16", 0.04))), True, torch.bfloat16),
    (backend("onednn", (("onednn", 0.05), ("bf16", 0.06))), True, torch.float32),  # ... or fp32 faster
    (backend("openvino", (("openvino", 0.03), ("onednn", 0.05))), False, torch.float32),  # OpenVINO in f32
    (None, True, torch.float32),  # CUDA: autocast, as before
])
def test_bf16_features_where_the_networks_run_in_bf16_and_bf16_is_native(monkeypatch, cpu, native, expected):
    monkeypatch.setattr(gatys_bf16, "cpu_has_fast_bf16", lambda: native)
    assert cpu_features_dtype(cpu) == expected


def test_fp32_refines_exactly_as_before(padded, pair):
    content, style = pair
    opts = GatysOptions(iterations=4)
    refiner = _refiner(padded, style, backend("nnpack"), opts)
    assert not isinstance(refiner.net, Bf16Features)
    out = refiner.refine(content, content)
    net = feature_net(padded)  # today's refiner: the run's fp32 encoder, targets and all
    with torch.enable_grad():
        expected, _ = gatys(net, content, style_targets(net, [style], torch.ones(1)), opts, content)
    assert torch.equal(out, expected)


@pytest.mark.bf16
def test_bf16_features_reach_the_fp32_final_loss(padded, pair):
    content, style = pair
    fp32, bf16 = (_refiner(padded, style, backend(name)) for name in ("onednn", "bf16"))
    assert isinstance(bf16.net, Bf16Features) and bf16.net.fast.features[0].weight.dtype == torch.bfloat16
    assert padded.features[0].weight.dtype == torch.float32  # the run's encoder is left alone
    for a, b in zip(fp32.grams, bf16.grams):  # the targets are the bf16 net's own, accumulated in fp32
        assert b.dtype == torch.float32 and not torch.equal(a, b)
        assert (a - b).norm() < 0.02 * a.norm()
    score = GatysLoss(feature_net(padded), content, fp32.grams, OPTS)
    with torch.no_grad():
        start = score(content)[1]["total"]
        losses = {name: score(r.refine(content, content))[1]["total"] for name, r in (("fp32", fp32), ("bf16", bf16))}
    assert losses["fp32"] < 0.5 * start, (start, losses)  # it optimised
    assert losses["bf16"] < 1.03 * losses["fp32"], losses  # no worse: 7.93 against 8.22 when written


@pytest.mark.bf16
def test_the_cli_path_gives_bf16_features_where_the_networks_run_in_bf16_never_at_fp32():
    for precision in ("bf16", "fp32", "auto"):
        stylizer = make_stylizer(None, STYLE_PATH, size=64, precision=precision)
        expected = precision == "bf16" or (precision == "auto" and stylizer.nets.backend.name in BF16_BACKENDS)
        refiner = build_refiner(stylizer, OPTS)
        assert isinstance(refiner.net, Bf16Features) == expected, precision
        assert describe_networks(stylizer, refiner).endswith("; Gatys " + ("bfloat16" if expected else "float32")
                                                             + " features")
