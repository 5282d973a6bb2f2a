"""Quantize the shipped decoder to int8 for the CPU, once, offline; export the encoder (to relu4_1) beside it.

Post-training quantization with NNCF on OpenVINO models (a development dependency: ``pip install nncf``;
the runtime needs only ``openvino``). The decoder is calibrated on what it is fed at run time: photos'
relu4_1 features renormalised (AdaIN) to the calibrated statistics of several paintings. Its first
convolution (512 channels of AdaIN output, whose range depends on the painting), its last (3 channels) and
two of those whose int8 noise raised the held-out content distance most (the 4th, 256 to 256 channels, and
the 8th, 64 to 64 at full size: ``--float-convs``) stay in float; each activation's range is
the largest 99.99th percentile over the calibration samples (the default, a mean of per-sample maxima, clips
the strongest paintings: 25 dB on the worst held-out pair);
the overflow fix is off (full 8-bit weights: needs VNNI, which ``models/int8.passed_gate`` checks). The
encoder stays float (fp16 weights in the file, run in bf16 where the CPU has it): int8 in both networks lost
3 dB too many (docs/BENCHMARKS.md, "int8"). ``--encoder int8`` quantizes it too (MIXED, thin first
convolutions in float), for comparison. The result and its provenance go to ``pipeline/weights/int8/``
(see pipeline/weights/MODEL_CARD.md, "int8").

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
# The decoder's convolutions kept float besides the thin last one: the first (fed AdaIN output), the 4th and
# the 8th (the held-out gate's content rise, docs/BENCHMARKS.md "int8 quality").
FLOAT_CONVS = (0, 3, 7)


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


def float_convolutions(model, chosen: tuple[int, ...] = ()) -> list[str]:
    """The convolutions kept out of int8: those with at most 3 channels on one side (the Caffe input 1x1,
    conv1_1, the decoder's last layer), and those at the 0-based positions ``chosen`` in the model's order."""
    convs = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    thin = [op for op in convs if min(d.get_length() for d in op.input_value(1).get_partial_shape()[:2]) <= 3]
    return [op.get_friendly_name() for i, op in enumerate(convs) if op in thin or i in chosen]


def quantize_decoder(model, data, chosen: tuple[int, ...] = FLOAT_CONVS):
    """The decoder in int8: the last convolution and those at positions ``chosen`` float, ranges by the
    99.99th percentile (max over samples), 8-bit weights everywhere (no overflow fix)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import (AggregatorType, RangeEstimatorParameters,
                                                   StatisticsCollectorParameters, StatisticsType)

    ranges = RangeEstimatorParameters(
        min=StatisticsCollectorParameters(StatisticsType.MIN, AggregatorType.MIN),
        max=StatisticsCollectorParameters(StatisticsType.QUANTILE, AggregatorType.MAX, quantile_outlier_prob=1e-4))
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix.DISABLE,
                                              activations_range_estimator_params=ranges)
    return nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED, subset_size=len(data),
                         ignored_scope=nncf.IgnoredScope(names=float_convolutions(model, chosen)),
                         advanced_parameters=advanced)


def quantize_encoder(model, data):
    """The encoder in int8 (``--encoder int8``, for comparison): MIXED, the thin first convolutions float."""
    import nncf

    return nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED, subset_size=len(data),
                         ignored_scope=nncf.IgnoredScope(names=float_convolutions(model)))


def provenance(args, photos: list[Path], styles: list[Path], seconds: float) -> dict:
    import nncf
    import openvino as ov

    encoder = ("int8, preset MIXED, the thin first convolutions float" if args.encoder == "int8" else
               "float (fp16 weights in the file; run in bf16 where the CPU has it, else f32)")
    return {
        "toolkit": {"nncf": nncf.__version__, "openvino": ov.get_version(), "torch": torch.__version__},
        "method": "post-training quantization of the decoder: preset MIXED (symmetric per-channel 8-bit weights, "
                  f"asymmetric 8-bit activations), the last convolution and those at positions {args.float_convs} "
                  "(0-based) float, "
                  "activation ranges from the largest 99.99th percentile over the calibration samples, no overflow "
                  "fix (needs VNNI)",
        "encoder": encoder,
        "encoder_calibration": f"{len(photos)} photos from {args.photos.name} at long side {args.size}"
                               if args.encoder == "int8" else "none (float)",
        "decoder_calibration": f"relu4_1 features of {len(photos)} photos from {args.photos.name} at long side "
                               f"{args.size}, renormalised to {len(styles)} paintings from {args.styles.name} "
                               "(calibrated statistics), one painting per photo in turn",
        "photos": [str(p.relative_to(args.photos)) for p in photos],
        "paintings": [str(p.relative_to(args.styles)) for p in styles],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/data/train/content")
    parser.add_argument("--styles", type=Path, default=ROOT.parent / "shared/data/train/style")
    parser.add_argument("--count", type=int, default=48, help="calibration photos")
    parser.add_argument("--style-count", type=int, default=12, help="calibration paintings")
    parser.add_argument("--size", type=int, default=384, help="long side of the calibration photos")
    parser.add_argument("--encoder", choices=["float", "int8"], default="float",
                        help="float (the default: int8 there failed the quality gate) or int8, for comparison")
    parser.add_argument("--float-convs", type=int, nargs="*", default=list(FLOAT_CONVS),
                        help="0-based positions of the decoder's convolutions kept float besides the last "
                        "(0 takes the AdaIN output; 3, 5 and 7 raised the content distance most)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import openvino as ov

    t0 = time.perf_counter()
    photos = images_in(args.photos, args.count, args.seed)
    styles = images_in(args.styles, args.style_count, args.seed + 1)
    enc_in, dec_in = calibration_sets(photos, styles, args.size)
    encoder, decoder = export(args.size)
    if args.encoder == "int8":
        encoder = quantize_encoder(encoder, enc_in)
    args.out.mkdir(parents=True, exist_ok=True)
    # fp16 weights for the float encoder (half the file; bf16 at run time rounds them further anyway); the
    # int8 models' float parts stay f32.
    ov.save_model(encoder, str(args.out / "encoder.xml"), compress_to_fp16=args.encoder == "float")
    ov.save_model(quantize_decoder(decoder, dec_in, tuple(args.float_convs)), str(args.out / "decoder.xml"), compress_to_fp16=False)
    record = provenance(args, photos, styles, time.perf_counter() - t0)
    (args.out / "provenance.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("photos", "paintings")}, indent=1))


if __name__ == "__main__":
    main()
