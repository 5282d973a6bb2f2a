"""Peak memory and time of one CPU frame, whole or in the tiles a memory budget gives (tiling.py); prints a
table and JSON. Each case runs in a fresh process, so its peak resident memory (Linux ``VmHWM``) is its own.

    python scripts/bench_memory.py                                  # 720p and 1080p, budgets 1.5, 2 and 3 GiB
    python scripts/bench_memory.py --sizes 720x1280 --budgets 2 --backends bf16 onednn int8

Quote the CPU model and flags it prints with every figure (docs/BENCHMARKS.md, "Tiles by memory").
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STYLE = ROOT / "samples" / "style" / "starry_night.jpg"


def status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_case(backend: str, h: int, w: int, budget: float, repeat: int) -> dict:
    """In this process: the stylizer as a run builds it, then ``repeat`` frames of ``h`` x ``w``."""
    import torch

    sys.path.insert(0, str(ROOT))
    from pipeline.api import load_stylizer

    from pipeline.precision_gate import options_for

    stylizer = load_stylizer(STYLE, size=256, device="cpu", memory_budget=budget, **options_for(backend)).stylizer
    frame = torch.rand(1, 3, h, w)
    before = status_mib("VmRSS")
    tile = stylizer.tiling.tile_for(-(-h // 8) * 8, -(-w // 8) * 8)
    times = []
    with torch.no_grad():
        for _ in range(repeat):
            t0 = time.perf_counter()
            stylizer(frame)
            times.append(time.perf_counter() - t0)
    return {"backend": backend, "size": f"{h}x{w}", "budget_gib": budget, "tile": list(tile) if tile else None,
            "rss_before_mib": round(before), "peak_mib": round(status_mib("VmHWM")),
            "s_per_frame": round(statistics.median(times[1:] or times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["720x1280", "1080x1920"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[1.5, 2.0, 3.0])
    parser.add_argument("--backends", nargs="+", default=["bf16"])
    parser.add_argument("--repeat", type=int, default=3, help="frames per case (the first is a warm-up)")
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)  # backend h w budget: one case, here
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.case:
        backend, h, w, budget = args.case
        print(json.dumps(one_case(backend, int(h), int(w), float(budget), args.repeat)))
        return
    print(f"cpu: {platform.processor() or platform.machine()}; see lscpu for the model and flags")
    rows = []
    for backend in args.backends:
        for size in args.sizes:
            h, w = (int(v) for v in size.split("x"))
            for budget in args.budgets:
                out = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat), "--case", backend,
                                      str(h), str(w), str(budget)], capture_output=True, text=True, check=True)
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{r['backend']:7} {r['size']:>10} budget {r['budget_gib']:4} GiB  tile {str(r['tile']):>12}  "
                      f"peak {r['peak_mib']:5} MiB  {r['s_per_frame']:.3f} s/frame")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
