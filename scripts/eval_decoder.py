"""Evaluate a decoder on content and style images it never saw in training; print the figures as JSON.

Style-loss ratio: the AdaIN-protocol style loss of the output against the style image, divided by the same
loss of the unstylized content image (content at long side 512, style resized to the same long side).
Reconstruction: with alpha 0 the decoder should give back the content image (PSNR, SSIM).
Content loss: mean squared distance at relu4_1 between the output's features and the AdaIN target.

The top-level figures are the decoder's own (plain AdaIN); "calibrated" is what `stylize` does by default
(each style's statistics corrected once, pipeline/calibration.py) and "calibrated_feedbackN" adds N
``--feedback`` passes per image; "adapted" also fine-tunes the decoder to each style first (``--adapt``, the
default on CUDA; pipeline/adaptation.py), on the bundled calibration photos, none of them an evaluation
photo. The grid shows the calibrated outputs.

    python scripts/eval_decoder.py --decoder pipeline/weights/decoder.safetensors --grid docs/decoder_grid.jpg
"""

from __future__ import annotations

import argparse
import os
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from pipeline.adaptation import CUDA_STEPS
from pipeline.device import pick_device
from pipeline.io.images import IMAGE_EXTENSIONS, read_image, to_tensor, to_uint8
from pipeline.io.walk import walk_files
from pipeline.models.decoder import load_decoder, shipped_weights_path
from pipeline.models.vgg import STYLE_LAYERS, load_encoder
from pipeline.ops.adain import adain_stats
from pipeline.ops.losses import channel_stats, stats_distance_terms
from pipeline.build import build_stylizer
from pipeline.ops.resize import resize_long_side
from pipeline.options import StyleOptions

DATA = Path(os.environ.get("STYLIZE_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
MODES = {"decoder": {}, "calibrated": {"calibration_size": 512},
         "calibrated_feedback1": {"calibration_size": 512, "feedback": 1},
         "calibrated_feedback2": {"calibration_size": 512, "feedback": 2},
         "adapted": {"calibration_size": 512, "adapt": CUDA_STEPS},
         "adapted_feedback1": {"calibration_size": 512, "adapt": CUDA_STEPS, "feedback": 1}}
CONTENTS = ["tubingen", "golden_gate", "brad_pitt", "sailboat", "chicago", "venice_boat", "taj_mahal", "avril"]
STYLES = ["starry_night", "the_scream", "great_wave_hokusai", "composition_vii_kandinsky", "la_muse_picasso",
          "mosaic", "candy", "udnie_picabia"]


def stylizer_for(encoder, decoder, style: torch.Tensor, calibration_size: int = 0, device="cpu", **options):
    """fp32, the style as given, calibrated (and adapted) at ``calibration_size`` when it is given."""
    opts = StyleOptions(styles=[Path("<style>")], style_size=0, device=str(device), precision="fp32",
                        calibrate=bool(calibration_size), calibration_size=calibration_size or 512,
                        **{"adapt": 0, **options})
    return build_stylizer(opts, styles=[style], encoder=encoder, decoder=decoder)


def load(path: Path, size: int) -> torch.Tensor:
    return resize_long_side(to_tensor(read_image(path).rgb)[None], size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoder", type=Path, default=shipped_weights_path())
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="auto", help="where the stylizer runs (the scoring stays on the CPU)")
    parser.add_argument("--pairs", type=int, default=8, help="contents x styles used (up to 8 x 8)")
    parser.add_argument("--grid", type=Path, help="write a 4x4 content/style/output grid here")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--modes", default="decoder,calibrated,calibrated_feedback1",
                        help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--gap", action="store_true",
                        help="also compare training pairs with unseen ones at 256 px (the training images' scale)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    encoder = load_encoder(last_layer="relu4_1")
    decoder = load_decoder(args.decoder)
    contents = [load(args.data / "content" / f"{n}.jpg", args.size) for n in CONTENTS[: args.pairs]]
    styles = [load(args.data / "style" / f"{n}.jpg", args.size) for n in STYLES[: args.pairs]]

    modes = args.modes.split(",")
    device = pick_device(args.device)
    results = {mode: style_losses(encoder, decoder, contents, styles, device=device, **MODES[mode])
               for mode in modes}

    recon = stylizer_for(encoder, decoder, styles[0], alpha=0.0)
    psnrs, ssims = [], []
    for content in contents:
        a = to_uint8(content[0])
        b = to_uint8(recon(content)[0])
        psnrs.append(peak_signal_noise_ratio(a, b, data_range=255))
        ssims.append(structural_similarity(a, b, channel_axis=2, data_range=255))

    figures = {"decoder": str(args.decoder), "pairs": len(contents) * len(styles), "size": args.size,
               "reconstruction_psnr_db": round(float(np.mean(psnrs)), 2),
               "reconstruction_ssim": round(float(np.mean(ssims)), 4)}
    for mode in modes:
        mode_figures = summarise(*results[mode][:3], len(contents))
        if mode == "decoder":
            figures.update(mode_figures)
        else:
            figures[mode] = {k: v for k, v in mode_figures.items() if not k.endswith("_by_layer")}
    if args.gap:
        figures["generalisation_gap_256"] = generalisation_gap(encoder, decoder, args.data)
    if args.grid:
        write_grid(args.grid, contents[:4], styles[:4], results.get("calibrated", results[modes[0]])[3])
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def style_losses(encoder, decoder, contents: list[torch.Tensor], styles: list[torch.Tensor], **options
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Style-loss terms (pairs, layers, mean/std) of each stylized (content, style) pair and of the content
    itself, the content losses against the plain AdaIN target, and the outputs by index; ``options`` go to
    the Stylizer (calibration_size, feedback, adapt, device). The style loss is scored by ``encoder`` as given;
    the content loss through the reflection-padded encoder the decoder was trained and runs with."""
    out_terms, base_terms, content_losses, outputs = [], [], [], {}
    decoder_view = encoder.reflect_padded()
    for si, style in enumerate(styles):
        stylizer = stylizer_for(encoder, decoder, style, **options)
        style_stats = channel_stats(encoder(style, STYLE_LAYERS))  # once per style, as the stylizer does
        for ci, content in enumerate(contents):
            outputs[ci, si] = out = stylizer(content).cpu()
            feats = encoder(torch.cat([out, content]), STYLE_LAYERS)  # output and content in one pass
            out_term, base_term = stats_distance_terms(feats, style_stats).numpy()
            out_terms.append(out_term)
            base_terms.append(base_term)
            relu4_1 = decoder_view(torch.cat([out, content]))[0].float()
            target = adain_stats(relu4_1[1:], stylizer.style_mean.cpu(), stylizer.style_std.cpu())
            content_losses.append(float((relu4_1[:1] - target).pow(2).mean()))
    return np.stack(out_terms), np.stack(base_terms), np.array(content_losses), outputs


def summarise(out_terms: np.ndarray, base_terms: np.ndarray, content_losses: np.ndarray,
              contents: int) -> dict:
    """The figures of one mode: ratios overall, by style and by layer, and the content loss."""
    out_losses, base_losses = out_terms.sum(axis=(1, 2)), base_terms.sum(axis=(1, 2))
    ratios = out_losses / base_losses
    per_style = ratios.reshape(-1, contents).mean(axis=1)  # style_losses loops styles outside
    return {
        "style_loss_ratio_mean": round(float(ratios.mean()), 4),
        "style_loss_ratio_of_sums": round(float(out_losses.sum() / base_losses.sum()), 4),
        "style_loss_output_mean": round(float(out_losses.mean()), 2),
        "style_loss_content_mean": round(float(base_losses.mean()), 2),
        "content_loss_mean": round(float(content_losses.mean()), 1),
        "style_loss_ratio_by_style": {name: round(float(r), 4) for name, r in zip(STYLES, per_style)},
        "style_loss_share_by_layer": layer_table(out_terms.sum(axis=0) / out_terms.sum()),
        "style_loss_ratio_of_sums_by_layer": layer_table(out_terms.sum(axis=0) / base_terms.sum(axis=0)),
    }


def layer_table(values: np.ndarray) -> dict[str, dict[str, float]]:
    """(layers, mean/std) figures keyed by layer name and term."""
    return {layer: {"mean": round(float(m), 4), "std": round(float(s), 4)}
            for layer, (m, s) in zip(STYLE_LAYERS, values)}


def generalisation_gap(encoder, decoder, data: Path, count: int = 6, size: int = 256) -> dict[str, float]:
    """Mean style-loss ratio on pairs of training images against unseen pairs, and on the two mixed cases:
    says whether unseen contents or unseen styles are what the decoder has not learnt."""
    rng = np.random.default_rng(0)

    def pick(folder: Path) -> list[torch.Tensor]:
        paths = sorted(walk_files(folder, IMAGE_EXTENSIONS))
        return [load(p, size) for p in rng.choice(paths, count, replace=False)]

    sets = {"train_content": pick(data / "train" / "content"), "train_style": pick(data / "train" / "style"),
            "unseen_content": [load(data / "content" / f"{n}.jpg", size) for n in CONTENTS[:count]],
            "unseen_style": [load(data / "style" / f"{n}.jpg", size) for n in STYLES[:count]]}
    gap = {}
    for c in ("train_content", "unseen_content"):
        for s in ("train_style", "unseen_style"):
            out, base, _, _ = style_losses(encoder, decoder, sets[c], sets[s])
            gap[f"{c}_x_{s}"] = round(float(np.mean(out.sum(axis=(1, 2)) / base.sum(axis=(1, 2)))), 4)
    return gap


def write_grid(path: Path, contents: list[torch.Tensor], styles: list[torch.Tensor], outputs: dict,
               cell: int = 192) -> None:
    """Top row: styles; left column: contents; cells: the stylized outputs."""

    def thumb(image: torch.Tensor) -> Image.Image:
        img = Image.fromarray(to_uint8(image[0]))
        img.thumbnail((cell, cell))
        canvas = Image.new("RGB", (cell, cell), "white")
        canvas.paste(img, ((cell - img.width) // 2, (cell - img.height) // 2))
        return canvas

    grid = Image.new("RGB", (cell * (len(styles) + 1), cell * (len(contents) + 1)), "white")
    for si, style in enumerate(styles):
        grid.paste(thumb(style), (cell * (si + 1), 0))
    for ci, content in enumerate(contents):
        grid.paste(thumb(content), (0, cell * (ci + 1)))
        for si in range(len(styles)):
            grid.paste(thumb(outputs[ci, si]), (cell * (si + 1), cell * (ci + 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path, quality=85)


if __name__ == "__main__":
    main()
