"""Quantize the encoder (to relu4_1) and the shipped decoder to int8 for the CPU, once, offline.

Post-training quantization with NNCF on OpenVINO models (a development dependency: ``pip install nncf``;
the runtime needs only ``openvino``). The encoder is calibrated on photos, the decoder on what it is fed at
run time: photos' relu4_1 features renormalised (AdaIN) to the calibrated statistics of several paintings.
The thin first and last convolutions (3 channels on one side) stay in higher precision. The result and its
provenance go to ``pipeline/weights/int8/`` (see pipeline/weights/MODEL_CARD.md, "int8").

    python scripts/quantize_int8.py --photos ../shared/data/train/content --styles ../shared/data/train/style

The calibration images are the decoder's own training sets (never the held-out evaluation photos and
paintings of ../shared/data/content and ../shared/data/style that the quality gate uses).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "pipeline" / "weights" / "int8"
SUFFIXES = {".jpg", ".jpeg", ".png"}


def images_in(folder: Path, count: int, seed: int) -> list[Path]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    random.Random(seed).shuffle(paths)
    return paths[:count]


def calibration_sets(photos: list[Path], styles: list[Path], size: int):
    """(encoder inputs, decoder inputs) as numpy arrays: the photos at long side ``size`` padded to a
    multiple of 8, and each photo's features renormalised to one of the styles (in turn)."""
    from pipeline.build import build_networks, build_style_bank, load_style_images
    from pipeline.ops.adain import adain_stats
    from pipeline.ops.resize import pad_to_multiple
    from pipeline.options import StyleOptions

    opts = StyleOptions(styles=styles, precision="fp32", device="cpu", calibration_size=size, cpu_backend="onednn")
    nets = build_networks(opts, torch.device("cpu"))
    bank = build_style_bank(nets, load_style_images(styles, 512), [p.name for p in styles], size)
    enc_in, dec_in = [], []
    with torch.no_grad():
        for i, photo in enumerate(load_style_images(photos, size)):
            padded = pad_to_multiple(photo)[0]
            feats = nets.features(padded).float()
            k = i % len(styles)
            enc_in.append(padded.numpy())
            dec_in.append(adain_stats(feats, bank.mean[k:k + 1], bank.std[k:k + 1]).numpy())
    return enc_in, dec_in


def export(size: int):
    """The fp32 encoder (reflection padded, to relu4_1) and decoder as OpenVINO models, any batch and size."""
    import openvino as ov

    from pipeline.models.decoder import load_decoder, shipped_weights_path
    from pipeline.models.vgg import load_encoder

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vgg = load_encoder(None, "relu4_1")
            self.vgg.use_reflect_padding()

        def forward(self, x):
            return self.vgg(x)[0]

    encoder = ov.convert_model(Encoder().eval(), example_input=torch.rand(1, 3, size, size),
                               input=[(-1, 3, -1, -1)])
    decoder = ov.convert_model(load_decoder(shipped_weights_path()).eval(),
                               example_input=torch.rand(1, 512, size // 8, size // 8), input=[(-1, 512, -1, -1)])
    return encoder, decoder


def thin_convolutions(model) -> list[str]:
    """The convolutions with at most 3 channels on one side (the Caffe input 1x1, conv1_1, the last decoder
    layer): kept out of int8, where they lose the most for the least time."""
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Convolution":
            weight = op.input_value(1).get_partial_shape()
            if weight[0].get_length() <= 3 or weight[1].get_length() <= 3:
                names.append(op.get_friendly_name())
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/train/content")
    parser.add_argument("--styles", type=Path, default=ROOT.parent / "shared/data/train/style")
    parser.add_argument("--count", type=int, default=48, help="calibration photos")
    parser.add_argument("--style-count", type=int, default=12, help="calibration paintings")
    parser.add_argument("--size", type=int, default=384, help="long side of the calibration photos")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast-bias-correction", action=argparse.BooleanOptionalAction, default=True,
                        help="NNCF's fast bias correction (else the full one: slower, sometimes closer)")
    args = parser.parse_args()

    import nncf
    import openvino as ov

    t0 = time.perf_counter()
    photos = images_in(args.photos, args.count, args.seed)
    styles = images_in(args.styles, args.style_count, args.seed + 1)
    enc_in, dec_in = calibration_sets(photos, styles, args.size)
    encoder, decoder = export(args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, model, data in (("encoder", encoder, enc_in), ("decoder", decoder, dec_in)):
        keep = thin_convolutions(model)
        quantized = nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED,
                                  subset_size=len(data), ignored_scope=nncf.IgnoredScope(names=keep),
                                  fast_bias_correction=args.fast_bias_correction)
        ov.save_model(quantized, str(args.out / f"{name}.xml"), compress_to_fp16=False)
        print(f"{name}: {len(keep)} thin convolutions kept in higher precision: {keep}")
    provenance = {
        "toolkit": {"nncf": nncf.__version__, "openvino": ov.get_version(), "torch": torch.__version__},
        "method": "post-training quantization, preset MIXED (symmetric weights, asymmetric activations), "
                  "thin first and last convolutions not quantized",
        "encoder_calibration": f"{len(photos)} photos from {args.photos.name} at long side {args.size}",
        "decoder_calibration": f"their relu4_1 features renormalised to {len(styles)} paintings from "
                               f"{args.styles.name} (calibrated statistics), one painting per photo in turn",
        "photos": [str(p.relative_to(args.photos)) for p in photos],
        "paintings": [str(p.relative_to(args.styles)) for p in styles],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(json.dumps({k: v for k, v in provenance.items() if k not in ("photos", "paintings")}, indent=1))


if __name__ == "__main__":
    main()
