"""Start-up: seconds from the `stylize video` process starting to its first stylized frame, caches warm.

Runs the command N times (after one run that warms the backend probe's and the calibration's caches and the
OS file cache) and prints the median of the run's ``first_frame_s`` (its JSON report) and JSON. With
``--baseline PATH`` (a copy of an earlier ``pipeline`` package's parent folder) the two trees run
interleaved, A B A B ..., each with its own cache folder, so a burst of load on a shared machine falls on
both alike.

    python scripts/bench_startup.py --runs 5
    python scripts/bench_startup.py --runs 5 --baseline /tmp/old --json out/startup.json
    python scripts/bench.py --startup 5          # the same, from the main benchmark
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.backends import cpu_model  # noqa: E402
DATA = Path(os.environ.get("STYLIZE_DATA", ROOT.parent / "shared" / "data"))


def run_once(tree: Path, cache: Path, clip: Path, style: Path, size: int, frames: int, out: Path) -> dict:
    """One `python -m pipeline video` of ``tree``'s package: its first_frame_s and the process's wall time."""
    env = {**os.environ, "STYLIZE_CACHE": str(cache), "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "pipeline", "video", str(clip), str(out), "--style", str(style), "--size",
           str(size), "--max-frames", str(frames), "--json", "-q"]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout)
    return {"first_frame_s": summary.get("first_frame_s"), "first_frame_cpu_s": summary.get("first_frame_cpu_s"),
            "wall_s": round(wall, 3),
            "backend": summary.get("backend", "")}


def measure(trees: dict[str, Path], runs: int, clip: Path, style: Path, size: int, frames: int) -> dict:
    """Interleaved runs of each tree; per tree the median and every figure."""
    figures: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {name: Path(tmp) / f"cache-{name}" for name in trees}
        for name, tree in trees.items():  # warm: probe, calibration, file cache
            run_once(tree, caches[name], clip, style, size, frames, Path(tmp) / "warm.mp4")
        for _ in range(runs):
            for name, tree in trees.items():
                figures[name].append(run_once(tree, caches[name], clip, style, size, frames,
                                              Path(tmp) / f"{name}.mp4"))
    return {name: {**{f"{key}_median": round(statistics.median(r[key] for r in rows), 3)
                      for key in ("first_frame_s", "first_frame_cpu_s", "wall_s")},
                   "first_frame_s": [r["first_frame_s"] for r in rows], "backend": rows[0]["backend"]}
            for name, rows in figures.items()}


PROBE_SNIPPET = """
import json, sys, time
from pipeline import backends
from pipeline.models.vgg import load_encoder
from pipeline.process import setup_process
import torch
setup_process(torch.device("cpu"), torch.float32)
size = int(sys.argv[1])
encoder = load_encoder(None)  # the encoder a run hands the probe (to relu5_1)
encoder.use_reflect_padding()
backends.forget(size)
start, cpu = time.perf_counter(), time.process_time()
chosen = backends.for_precision("auto", size, encoder)
print(json.dumps({"probe_s": round(time.perf_counter() - start, 3), "probe_cpu_s": round(time.process_time() - cpu, 3),
                  "chosen": chosen.name, "measured": dict(chosen.measured)}))
"""


def probe_once(tree: Path, cache: Path, size: int) -> dict:
    """One fresh probe (``backends.for_precision("auto")`` with its cache entry dropped) in a process of
    ``tree``'s package, on the encoder a run builds: its wall time and its choice."""
    env = {**os.environ, "STYLIZE_CACHE": str(cache), "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", PROBE_SNIPPET, str(size)], env=env, cwd=tree, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_probe(trees: dict[str, Path], runs: int, size: int) -> dict:
    """``runs`` fresh probes per tree, interleaved: the median seconds and every choice."""
    rows: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for name, tree in trees.items():
                rows[name].append(probe_once(tree, Path(tmp) / name, size))
    return {name: {**{f"{key}_median": round(statistics.median(r[key] for r in got), 3)
                      for key in ("probe_s", "probe_cpu_s")},
                   "probe_s": [r["probe_s"] for r in got], "chosen": [r["chosen"] for r in got]}
            for name, got in rows.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clip", type=Path, default=DATA / "video" / "slow_traffic_5s.mp4")
    parser.add_argument("--style", type=Path, default=ROOT / "samples" / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--frames", type=int, default=4, help="frames per run (the figure is the first's)")
    parser.add_argument("--baseline", type=Path, help="a folder holding an earlier `pipeline` package")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the folder whose `pipeline` is timed (this one)")
    parser.add_argument("--probe", action="store_true", help="time fresh backend probes instead (--runs of them)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    trees = {"this": args.tree, **({"baseline": args.baseline} if args.baseline else {})}
    if args.probe:
        return report({"cpu": cpu_model(), "size": args.size, "load_avg_before": os.getloadavg()[0],
                       **measure_probe(trees, args.runs, args.size), "load_avg_after": os.getloadavg()[0]},
                      [f"{name}: probe {{probe_s_median:.2f}} s (median; {{probe_cpu_s_median:.2f}} CPU s), "
                       "chose {chosen}" for name in trees], trees, args.json)
    result = {"cpu": cpu_model(), "cpus": os.cpu_count(), "clip": args.clip.name, "size": args.size,
              "runs": args.runs, "load_avg_before": os.getloadavg()[0],
              **measure(trees, args.runs, args.clip.resolve(), args.style.resolve(), args.size, args.frames),
              "load_avg_after": os.getloadavg()[0]}
    return report(result, [f"{name}: first frame after {{first_frame_s_median:.2f}} s (median: {{first_frame_s}}; "
                           "{first_frame_cpu_s_median:.2f} CPU s), {backend}" for name in trees], trees, args.json)


def report(result: dict, lines: list[str], trees: dict[str, Path], out: Path | None) -> dict:
    """Print one line per tree (``lines``, formatted with its figures) and the JSON; write it to ``out``."""
    for name, line in zip(trees, lines):
        print(line.format(**result[name]))
    print(json.dumps(result, indent=2))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
