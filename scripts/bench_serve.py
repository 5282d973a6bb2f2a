"""Benchmark: how long `stylize serve` takes to answer a preview, cold (first request: weights, style,
calibration) and warm (the slider moved: the stylizer stays loaded), through the real app in process.

    python scripts/bench_serve.py                       # 384 px (the page's default preview size), 8 warm
    python scripts/bench_serve.py --size 512 --repeat 5 --json out/bench_serve.json

Prints wall and process CPU seconds per request (CPU time stays meaningful on a shared machine, where wall
time is not) and writes JSON. A figure to record, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import warnings

with warnings.catch_warnings():  # Starlette's note that its test client will move to httpx2
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

from pipeline.options import ServeOptions
from pipeline.serve.app import create_app

ROOT = Path(__file__).resolve().parents[1]


def timed(client: TestClient, photo: Path, style: str, size: int, alpha: float) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    response = client.post("/api/stylize", files={"content": (photo.name, photo.read_bytes())},
                           data={"style": style, "size": str(size), "alpha": str(alpha)})
    response.raise_for_status()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--photo", type=Path, default=ROOT / "samples" / "content" / "astronaut.jpg")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with TestClient(create_app(ServeOptions(device=args.device, preview_size=args.size))) as client:
        device = client.get("/api/health").json()["device"]
        cold = timed(client, args.photo, args.style, args.size, 1.0)
        warm = [timed(client, args.photo, args.style, args.size, 1.0 - i / (2 * args.repeat))
                for i in range(1, args.repeat + 1)]
    figures = {"device": device, "size": args.size, "cpu_count": os.cpu_count(), "machine": platform.processor(),
               "load_1min": round(os.getloadavg()[0], 2), "cold_wall_s": round(cold[0], 3),
               "cold_cpu_s": round(cold[1], 3), "warm_wall_median_s": round(statistics.median(w for w, _ in warm), 3),
               "warm_cpu_median_s": round(statistics.median(c for _, c in warm), 3),
               "warm_wall_s": [round(w, 3) for w, _ in warm]}
    print(f"preview at {args.size} px on {device}: cold {cold[0]:.2f} s wall ({cold[1]:.2f} s CPU), warm median "
          f"{figures['warm_wall_median_s']:.2f} s wall ({figures['warm_cpu_median_s']:.2f} s CPU) over "
          f"{args.repeat}; load average {figures['load_1min']} on {os.cpu_count()} CPUs")
    print(json.dumps(figures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
