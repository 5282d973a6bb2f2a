"""CPU backends end to end: per backend the network alone, the in-run cost per frame and the ratio to the
reference per-frame loop (scripts/bench.py's), on one clip at one work size; prints figures and JSON.

    python scripts/bench_cpu.py                                   # 40 frames of cutBunny at 384, every backend
    python scripts/bench_cpu.py --frames 300 --backends auto int8
    python scripts/bench_cpu.py --size 1280 --frames 20 --no-reference   # a 1280-wide work size

``auto`` is what ``--precision auto`` picks on this machine (the probe, backends.py). Quote the CPU model and
flags it prints with every figure (docs/BENCHMARKS.md, "CPU backends").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import DATA, reference_loop  # noqa: E402

from pipeline import backends  # noqa: E402
from pipeline.build import build_stylizer  # noqa: E402
from pipeline.engines.local import stylize_one  # noqa: E402
from pipeline.io.decode import probe  # noqa: E402
from pipeline.options import StyleOptions, TemporalOptions, VideoOptions, calibration_size_for  # noqa: E402
from pipeline.process import setup_process  # noqa: E402


def options(name: str, style: Path, size: int) -> StyleOptions:
    """The style options a user gets with the backend ``name`` (``auto``: the defaults)."""
    extra = {} if name == "auto" else {"cpu_backend": name}
    return StyleOptions(styles=[style], calibration_size=calibration_size_for(size), **extra)


def network_alone(stylizer, hw: tuple[int, int], repeats: int = 5) -> float:
    """Median seconds of pad, encode, AdaIN and decode of one frame of ``hw``."""
    x = torch.rand(1, 3, *hw)
    stylizer(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stylizer(x)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def network_gflop(hw: tuple[int, int]) -> float:
    """Billions of multiply-adds times two in the convolutions of one frame of ``hw`` (encoder to relu4_1 and
    decoder): divided by the network's seconds, the rate a machine reaches, comparable across machines and
    against its peak (docs/BENCHMARKS.md, "OpenVINO float"). Counted on shapes alone (the meta device)."""
    from pipeline.models.decoder import Decoder
    from pipeline.models.vgg import VGGEncoder

    total = [0]

    def count(module, _inputs, out) -> None:
        total[0] += 2 * module.in_channels * module.out_channels * module.kernel_size[0] * module.kernel_size[1] \
            * out.shape[-2] * out.shape[-1] // module.groups

    encoder, decoder = VGGEncoder("relu4_1", device="meta"), Decoder().to("meta")
    encoder.use_reflect_padding()
    for net in (encoder, decoder):
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(count)
    with torch.no_grad():
        decoder(encoder(torch.empty(1, 3, *hw, device="meta"))[0])
    return total[0] / 1e9


def backend_row(name: str, args, tmp: Path) -> dict:
    stylizer = build_stylizer(options(name, args.style, args.size))
    row = {"backend": stylizer.nets.backend.describe() if stylizer.nets.backend else "torch"}
    for temporal in args.temporal:
        opts = VideoOptions(size=args.size, max_frames=args.frames, temporal=TemporalOptions(mode=temporal))
        t0 = time.perf_counter()
        figures = stylize_one(stylizer, args.clip, tmp / f"{name}_{temporal}.mp4", opts)
        seconds = time.perf_counter() - t0
        frames = figures["frames"]
        row[temporal] = {"frames": frames, "seconds": round(seconds, 2), "fps": round(frames / seconds, 3),
                         "in_run_s_per_frame": round(figures["compute_s"] / frames, 4)}
    info = probe(args.clip)
    scale = args.size / max(info.width, info.height)
    hw = (round(info.height * scale), round(info.width * scale))
    row["network_alone_s"] = round(network_alone(stylizer, hw), 4)
    row["work_hw"] = list(hw)
    row["network_gflop_per_s"] = round(network_gflop(hw) / row["network_alone_s"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DATA / "video" / "cutBunny.mp4")
    parser.add_argument("--style", type=Path, default=ROOT / "samples" / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--backends", nargs="+", default=["auto", *backends.available()])
    parser.add_argument("--temporal", nargs="+", default=["off", "full"], help="temporal modes to run")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference loop")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_cpu.json")
    args = parser.parse_args()
    setup_process(torch.device("cpu"), torch.float32)
    results = {"cpu": backends.cpu_model(), "flags": backends.cpu_flags(), "threads": torch.get_num_threads(),
               "cpus": os.cpu_count(), "torch": torch.__version__, "clip": args.clip.name, "size": args.size,
               "frames": args.frames, "rows": []}
    print(json.dumps({k: v for k, v in results.items() if k != "rows"}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_reference:
            results["reference_loop"] = reference_loop(args.clip, args.style, args.size, args.frames,
                                                       Path(tmp) / "ref.mp4")
            print(json.dumps({"reference_loop": results["reference_loop"]}), flush=True)
        for name in args.backends:
            row = backend_row(name, args, Path(tmp))
            if "reference_loop" in results:
                for temporal in args.temporal:
                    row[temporal]["ratio"] = round(row[temporal]["fps"] / results["reference_loop"]["fps"], 2)
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
