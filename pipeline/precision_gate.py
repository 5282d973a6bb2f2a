"""The quality gate a reduced-precision backend must pass before ``--precision auto`` may take it.

Against the fp32 output on photo and painting pairs: the style ratio (an output's style loss over its
photo's, both against the painting: how much of the distance to the style is left) may rise by at most
``MEAN_STYLE`` on average and ``PAIR_STYLE`` on any pair, the relative content distance by at most
``PAIR_CONTENT`` on any pair, and the PSNR to the fp32 output must be at least ``MEAN_PSNR`` dB on average and
``PAIR_PSNR`` dB on every pair. On the shared clips, through the default temporal mode, the warping error may
rise by at most ``CLIP_WARP_PCT`` per cent over bf16's on any clip. ``scripts/quality.py --precisions`` and
``--video-precisions`` print the two halves; tests check the photo half on real pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from pipeline.metrics import style_loss
from pipeline.models.vgg import VGGEncoder

MEAN_STYLE, PAIR_STYLE, PAIR_CONTENT, MEAN_PSNR, PAIR_PSNR = 0.002, 0.005, 0.01, 37.0, 28.0
CLIP_WARP_PCT = 5.0
Pair = tuple[torch.Tensor, torch.Tensor]  # (photo, painting), each (1, 3, H, W) in [0, 1]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [0, 1] after rounding to 8 bits, as they are written."""
    mse = float(((a * 255).round() - (b * 255).round()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@torch.no_grad()
def pair_figures(encoder: VGGEncoder, photo: torch.Tensor, painting: torch.Tensor, out: torch.Tensor) -> dict:
    """Style ratio and relative content distance (relu4_1, over the photo's own energy) of one output."""
    ratio = float(style_loss(encoder, out, painting) / style_loss(encoder, photo, painting))
    a, b = encoder(out, ("relu4_1",))[0], encoder(photo, ("relu4_1",))[0]
    return {"style_ratio": ratio, "content": float((a - b).pow(2).mean() / b.pow(2).mean())}


def gate(encoder: VGGEncoder, pairs: Sequence[Pair], reference: Callable[[Pair], torch.Tensor],
         candidate: Callable[[Pair], torch.Tensor]) -> dict:
    """The figures of ``candidate`` against ``reference`` (each: a pair -> its output) and whether it
    passes: ``{"pass", "style_ratio", "style_ratio_fp32", "worst_style_rise", "worst_content_rise",
    "psnr_mean", "psnr_worst", "pairs": [...]}``."""
    rows = []
    for pair in pairs:
        ref, out = reference(pair).float().cpu(), candidate(pair).float().cpu()
        a, b = pair_figures(encoder, *pair, ref), pair_figures(encoder, *pair, out)
        rows.append({"style_ratio_fp32": a["style_ratio"], "style_ratio": b["style_ratio"],
                     "content_rise": b["content"] - a["content"], "psnr": psnr(ref, out)})
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    figures = {"style_ratio": mean("style_ratio"), "style_ratio_fp32": mean("style_ratio_fp32"),
               "worst_style_rise": max(r["style_ratio"] - r["style_ratio_fp32"] for r in rows),
               "worst_content_rise": max(r["content_rise"] for r in rows),
               "psnr_mean": float(np.mean([min(r["psnr"], 99.0) for r in rows])),
               "psnr_worst": min(r["psnr"] for r in rows), "pairs": rows}
    figures["pass"] = bool(figures["style_ratio"] - figures["style_ratio_fp32"] <= MEAN_STYLE
                           and figures["worst_style_rise"] <= PAIR_STYLE
                           and figures["worst_content_rise"] <= PAIR_CONTENT
                           and figures["psnr_mean"] >= MEAN_PSNR and figures["psnr_worst"] >= PAIR_PSNR)
    return figures


# Held-out photo and painting pairs (../shared/data/content and style, never in the decoder's training or the
# int8 calibration): eight photos, each with a painting three places on, then four of them with another.
PHOTOS = ("tubingen", "golden_gate", "brad_pitt", "sailboat", "chicago", "venice_boat", "taj_mahal", "avril")
PAINTINGS = ("starry_night", "the_scream", "great_wave_hokusai", "composition_vii_kandinsky", "la_muse_picasso",
             "mosaic", "candy", "udnie_picabia")
PAIRS = tuple((PHOTOS[i % 8], PAINTINGS[(3 * i + i // 8) % 8]) for i in range(12))


def options_for(name: str) -> dict:
    """StyleOptions fields running ``name``: a precision (fp32, bf16, int8, fp16) or a CPU backend (openvino)."""
    from pipeline.backends import NAMES
    from pipeline.options import Precision

    precision = name if name in set(Precision) else "auto"
    return {"precision": precision, "cpu_backend": name if name in NAMES else "auto"}


def run_gate(data, precisions: Sequence[str], size: int = 512, count: int = len(PAIRS),
             calibrate: bool = True) -> dict[str, dict]:
    """``gate`` for each of ``precisions`` (or CPU backends: ``options_for``) against fp32 on the first
    ``count`` ``PAIRS`` of ``data`` (the shared data folder) at long side ``size``, each painting's stylizer
    calibrated at ``size`` as a run is (``calibrate`` False: not, which is quicker)."""
    from pathlib import Path

    from pipeline.build import build_stylizer, load_style_images
    from pipeline.models.vgg import load_encoder
    from pipeline.options import StyleOptions

    names = PAIRS[:count]
    load = lambda folder, name: load_style_images([Path(data) / folder / f"{name}.jpg"], size)[0]  # noqa: E731
    pairs = [(load("content", c), load("style", s)) for c, s in names]

    def runner(precision: str) -> Callable[[Pair], torch.Tensor]:
        stylizers = {}

        def run(pair: Pair) -> torch.Tensor:
            painting = names[[id(p) for p in pairs].index(id(pair))][1]
            if painting not in stylizers:
                stylizers[painting] = build_stylizer(StyleOptions(
                    styles=[Path(data) / "style" / f"{painting}.jpg"], device="cpu", calibration_size=size,
                    style_size=size, adapt=0, calibrate=calibrate, **options_for(precision)))
            return stylizers[painting](pair[0])
        return run

    encoder = load_encoder(last_layer="relu4_1")
    reference = runner("fp32")
    outputs = {}
    with torch.no_grad():
        fixed = {id(p): reference(p) for p in pairs}  # fp32 once, whatever the number of candidates
        for precision in precisions:
            outputs[precision] = gate(encoder, pairs, lambda p: fixed[id(p)], runner(precision))
            outputs[precision]["pair_names"] = [list(n) for n in names]
    return outputs
