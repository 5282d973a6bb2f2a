"""Folder throughput of the Ray engine with 1 and 2 workers on this machine (local Ray instance).

    python scripts/bench_ray.py --images 24 --size 256 --json out/bench_ray.json

Copies nothing: it stylizes ../shared/data/content (or --input) into a temporary folder. Start-up time
(Ray and one model load per worker) is reported apart from the steady-state rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ray

from pipeline.calibration import calibration_size_for
from pipeline.engines.ray import init_ray, run_folder_job_ray
from pipeline.options import EngineOptions, Engine
from pipeline.jobs.folder import FolderOptions, plan_folder
from pipeline.options import StyleOptions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=ROOT.parent / "shared" / "data" / "content")
    parser.add_argument("--style", type=Path, default=ROOT / "samples" / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            tasks, _ = plan_folder(args.input, Path(tmp))
            tasks = tasks[: args.images]
            t0 = time.perf_counter()
            init_ray(None, workers)
            started = time.perf_counter() - t0
            style = StyleOptions(styles=[args.style], calibration_size=calibration_size_for(args.size))
            summary = run_folder_job_ray(style, None, tasks, FolderOptions(size=args.size, batch_size=1),
                                         EngineOptions(Engine.RAY, workers=workers))
            ray.shutdown()
        rows.append({"workers": workers, "images": summary.units_done, "ray_start_s": round(started, 2),
                     "job_s": round(summary.elapsed_s, 2),
                     "images_per_s": round(summary.units_done / summary.elapsed_s, 3)})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["images_per_s"]
    for row in rows:
        row["scaling"] = round(row["images_per_s"] / base, 2)
    print(json.dumps(rows, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
