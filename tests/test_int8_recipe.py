"""The shipped int8 networks are what their provenance says: the decoder's recipe (which convolutions stay
float) and a recorded quality gate whose figures agree with its verdict under ``precision_gate``'s limits."""

from __future__ import annotations

import json
import sys

import pytest

from pipeline import precision_gate as gate
from pipeline.models import int8
from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(not int8.available(), reason="OpenVINO is not installed: "
                                "pip install 'stylize-pipeline[openvino]' runs the int8 path")


def _provenance() -> dict:
    return json.loads((int8.model_dir() / "provenance.json").read_text())


def test_the_shipped_decoder_keeps_the_recipes_convolutions_float():
    import openvino as ov

    sys.path.insert(0, str(ROOT / "scripts"))
    from quantize_int8 import FLOAT_CONVS

    model = ov.Core().read_model(str(int8.model_dir() / "decoder.xml"))
    convs = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    # an int8 convolution's weights are an 8-bit constant dequantized in the graph (Convert, Multiply)
    quantized = [i for i, op in enumerate(convs) if op.input_value(1).get_node().get_type_name() == "Multiply"]
    float_ones = sorted(set(range(len(convs))) - set(quantized))
    assert len(convs) == 9 and float_ones == sorted({*FLOAT_CONVS, len(convs) - 1})
    assert f"positions {list(FLOAT_CONVS)}" in _provenance()["method"]


def test_the_recorded_gate_verdict_follows_from_its_figures():
    figures = _provenance()["quality_gate"]
    passes = (figures["style_ratio"] - figures["style_ratio_fp32"] <= gate.MEAN_STYLE
              and figures["worst_style_rise"] <= gate.PAIR_STYLE and figures["worst_content_rise"] <= gate.PAIR_CONTENT
              and figures["psnr_mean"] >= gate.MEAN_PSNR and figures["psnr_worst"] >= gate.PAIR_PSNR)
    assert figures["pass"] is passes
    assert [tuple(p) for p in figures["pair_names"]] == list(gate.PAIRS)  # all 12 held-out pairs, not a subset
    video = figures["video"]  # the clips' half: every shared clip, through the default temporal mode
    assert video["pass"] is (video["worst_warp_rise_pct"] <= gate.CLIP_WARP_PCT) and len(video["clips"]) == 8
