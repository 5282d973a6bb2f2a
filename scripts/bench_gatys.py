"""Benchmark: the Gatys optimisation on one photo and painting pair, wall time and final loss per precision.

    python scripts/bench_gatys.py                                  # 256 px, 100 L-BFGS iterations, fp32 and auto
    python scripts/bench_gatys.py --precision fp32 bf16 --repeats 3 --json out/gatys.json
    python scripts/bench_gatys.py --precision fp32 --range-weight 0  # the objective before the range penalty
    python scripts/bench.py --gatys-only                           # the same, from the main benchmark

Each run builds the stylizer as the CLI does (``--precision``; the Gatys features are bf16 on a CPU with native
bf16 where the networks run in bf16, ``gatys_bf16.cpu_features_dtype``, fp32 otherwise) and times the
optimisation of the content image from itself (``--init content``). The final loss is evaluated the same way
for every run: in fp32, in the reflection-padded VGG-19, on the final (clamped) image, without the range
penalty (zero there). Runs of the
precisions take turns (``--repeats`` rounds), so that load from other processes falls on all of them alike;
the medians are reported. Figures to record (docs/BENCHMARKS.md), not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("STYLIZE_DATA", ROOT.parent / "shared" / "data"))
CONTENT = DATA / "content" / "golden_gate.jpg"
STYLE = ROOT / "samples" / "style" / "starry_night.jpg"


def reference_loss(content: torch.Tensor, style: torch.Tensor, opts):
    """The fp32 objective every run's final image is scored with (the run's own, at fp32)."""
    from pipeline.gatys import GatysLoss, feature_net, style_targets
    from pipeline.models.vgg import load_encoder

    net = load_encoder(None)
    net.use_reflect_padding()
    net = feature_net(net.with_pooling(opts.pooling))
    return GatysLoss(net, content, style_targets(net, [style], torch.ones(1)), replace(opts, range_weight=0.0))


def gatys_once(precision: str, content: torch.Tensor, style_path: Path, size: int, opts) -> dict:
    """One timed optimisation at ``precision`` (the refiner as ``stylize --method gatys`` builds it)."""
    from pipeline.build import build_refiner, build_stylizer
    from pipeline.gatys import gatys
    from pipeline.gatys_bf16 import Bf16Features
    from pipeline.options import StyleOptions

    stylizer = build_stylizer(StyleOptions(styles=[style_path], style_size=size, precision=precision,
                                           calibrate=False, adapt=0, device="cpu"))
    refiner = build_refiner(stylizer, opts)
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.enable_grad():
        out, history = gatys(refiner.net, content, refiner.grams, opts, content, None, refiner.dtype)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    backend = stylizer.nets.backend
    return {"precision": precision, "backend": backend.name if backend is not None else None,
            "features": "bf16" if isinstance(refiner.net, Bf16Features) else "fp32", "out": out,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 1), "evaluations": len(history),
            "s_per_iteration": round(wall / opts.iterations, 3), "run_loss": round(history[-1]["total"], 5)}


def gatys_section(precisions: list[str], size: int = 256, iterations: int = 100, repeats: int = 1,
                  scales: int = 1, content_path: Path = CONTENT, style_path: Path = STYLE,
                  range_weight: float | None = None) -> dict:
    """``repeats`` interleaved rounds of each precision; per precision the median wall time and the final
    fp32 loss (total, style, content) of its last run."""
    from pipeline.build import load_style_images
    from pipeline.device import cpu_has_fast_bf16
    from pipeline.options import GatysOptions
    from pipeline.process import setup_process

    setup_process(torch.device("cpu"), torch.float32)  # what `stylize` does once, before its job
    content, style = load_style_images([content_path, style_path], size)
    opts = GatysOptions(iterations=iterations, scales=scales)
    opts = opts if range_weight is None else replace(opts, range_weight=range_weight)
    score = reference_loss(content, style, opts)
    runs: dict[str, list[dict]] = {p: [] for p in precisions}
    for _ in range(repeats):
        for precision in precisions:
            run = gatys_once(precision, content, style_path, size, opts)
            with torch.no_grad():
                run.update({k: round(v, 5) for k, v in score(run.pop("out"))[1].items()})
            runs[precision].append(run)
            print(json.dumps({"gatys": run}), flush=True)
    summary = {p: {**r[-1], "wall_s": statistics.median(x["wall_s"] for x in r),
                   "walls_s": [x["wall_s"] for x in r]} for p, r in runs.items()}
    for p in summary:
        summary[p]["s_per_iteration"] = round(summary[p]["wall_s"] / iterations, 3)
    return {"content": content_path.name, "style": style_path.name, "size": list(content.shape[-2:]),
            "iterations": iterations, "scales": scales, "range_weight": opts.range_weight, "repeats": repeats,
            "threads": torch.get_num_threads(),
            "cpu_fast_bf16": cpu_has_fast_bf16(), "runs": summary}


def default_precisions() -> list[str]:
    """fp32, and auto where the CPU runs bf16 natively (elsewhere auto's Gatys is fp32: the same run)."""
    from pipeline.device import cpu_has_fast_bf16

    return ["fp32"] + ["auto"] * cpu_has_fast_bf16()


def print_gatys(found: dict) -> None:
    """One line per precision: median wall time, seconds per iteration, evaluations, the final fp32 loss."""
    for name, run in found["runs"].items():
        print(f"{name:6} {run['features']} features: {run['wall_s']:.1f} s ({run['s_per_iteration']:.3f} s/iteration, "
              f"{run['evaluations']} evaluations), final loss {run['total']:.4f} (style {run['style']:.4f}, "
              f"content {run['content']:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", nargs="+", default=None, help="default: fp32, and bf16 where native")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--scales", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--range-weight", type=float, default=None, help="default: GatysOptions' own")
    parser.add_argument("--content", type=Path, default=CONTENT)
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_gatys.json")
    args = parser.parse_args()
    found = gatys_section(args.precision or default_precisions(), args.size, args.iterations, args.repeats,
                          args.scales, args.content, args.style, args.range_weight)
    from bench import device_name

    found = {"device": device_name(), **found}
    print_gatys(found)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
