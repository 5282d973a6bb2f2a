"""Where the time of `stylize video` goes: torch.profiler over the whole run, operators ranked by their own time.

The benchmark says how fast; this says why. On a GPU it ranks kernels by device time and shows how much of
the run the device was busy, which tells a slow network (convolutions on top) from a starved one (copies,
padding, conversions, or idle time on top). It writes the ranked tables and a Chrome trace.

    python scripts/profile_video.py --frames 64                  # 1080p clip made from cockatoo.mp4
    python scripts/profile_video.py --clip ../shared/data/video/cutBunny.mp4 --size 512
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from bench import DATA, ROOT, upscale_to_1080p
from pipeline.calibration import calibration_size_for
from pipeline.io.video import EncodeOptions, probe
from pipeline.options import StyleOptions
from pipeline.build import build_stylizer
from pipeline.stylizer import auto_batch_size
from pipeline.engines.local import stylize_one
from pipeline.jobs.video_plan import plan_sizes
from pipeline.options import TemporalOptions, VideoOptions


def ranked(prof: profile, key: str, rows: int) -> list[dict]:
    """The operators with the most self time on ``key`` ("cpu" or "device"), in milliseconds."""
    attr = "self_cpu_time_total" if key == "cpu" else "self_device_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, attr, 0.0), reverse=True)[:rows]
    return [{"op": e.key, "calls": e.count, "self_ms": round(getattr(e, attr, 0.0) / 1000, 1)} for e in events]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, help="input video (default: cockatoo.mp4 scaled to 1080p)")
    parser.add_argument("--style", type=Path, default=ROOT / "samples" / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=1920)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--temporal", default="off")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "profile")
    args = parser.parse_args()

    options = StyleOptions(styles=[args.style], calibration_size=calibration_size_for(args.size))
    stylizer = build_stylizer(options)
    cuda = stylizer.device.type == "cuda"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = args.clip or upscale_to_1080p(DATA / "video" / "cockatoo.mp4", tmp / "clip.mp4", args.frames)
        info = probe(clip)
        # One lane (VideoOptions' default, not the CLI's auto): torch.profiler records the host operators of
        # the thread that starts it only, so the stylizing must run in this one.
        opts = VideoOptions(size=args.size, max_frames=args.frames, temporal=TemporalOptions(mode=args.temporal),
                            encode=EncodeOptions(preset=args.preset), parallel=1)
        opts = replace(opts, batch_size=auto_batch_size(stylizer, plan_sizes(info, opts)[0]))
        warm = replace(opts, max_frames=opts.batch_size)
        stylize_one(stylizer, clip, tmp / "warm.mp4", warm)  # cuDNN autotuning stays out of the profile
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            figures = stylize_one(stylizer, clip, tmp / "out.mp4", opts)
        wall = time.perf_counter() - start
    result = {"device": torch.cuda.get_device_name() if cuda else "cpu", "clip": clip.name, "size": args.size,
              "batch_size": opts.batch_size, "frames": figures["frames"], "wall_s": round(wall, 2),
              "fps_under_profiler": round(figures["frames"] / wall, 2),
              **{k: figures[k] for k in ("decode_s", "compute_s", "encode_s")},
              "top_cpu": ranked(prof, "cpu", args.rows)}
    if cuda:
        result["top_device"] = ranked(prof, "device", args.rows)
        busy = sum(e.self_device_time_total for e in prof.key_averages()) / 1e6
        result["device_busy_s"] = round(busy, 2)
        result["device_busy_share"] = round(busy / wall, 3)
    prof.export_chrome_trace(str(args.out / "trace.json"))
    (args.out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
