"""What decoding costs per frame on this machine: the same 10-bit HEVC picture tagged SDR (BT.709) and HDR (PQ
and HLG, BT.2020), so the difference is the HDR to SDR conversion (pipeline/io/hdr.py); or clips you name.

    python scripts/bench_decode.py [--size 1920x1080] [--frames 48] [--clip a.mkv ...] [--json out/decode.json]

Prints milliseconds per frame (median of --repeats passes) for 8-bit and 16-bit RGB out, and the CPU model.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from pipeline.io.decode import decode_frames, probe

TAGS = {"sdr-bt709": (1, 1, 1), "hdr-pq": (9, 9, 16), "hdr-hlg": (9, 9, 18)}  # matrix, primaries, transfer


def make_clip(path: Path, size: tuple[int, int], frames: int, tags: tuple[int, int, int]) -> Path:
    """``frames`` of a moving 10-bit gradient, lossy HEVC (ultrafast), tagged ``tags``."""
    width, height = size
    ramp = np.linspace(0, 50000, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        stream.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = *tags, 1
        for i in range(frames):
            shifted = np.roll(ramp, i * 8, axis=1) + np.array([0, 4000, 8000], np.float32)
            frame = av.VideoFrame.from_ndarray(shifted.clip(0, 65535).astype(np.uint16), format="rgb48le")
            frame = frame.reformat(format="yuv420p10le", dst_colorspace=9 if tags[0] == 9 else 1, dst_color_range=1)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def ms_per_frame(path: Path, deep: bool, repeats: int) -> float:
    info = probe(path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(1 for _ in decode_frames(info, deep=deep))
        times.append((time.perf_counter() - start) * 1000 / count)
    return statistics.median(times)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clip", type=Path, action="append", default=[])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clips = {p.name: p for p in args.clip} or {
            name: make_clip(Path(tmp) / f"{name}.mkv", size, args.frames, tags) for name, tags in TAGS.items()}
        rows = {name: {"rgb24_ms": ms_per_frame(path, False, args.repeats),
                       "rgb48_ms": ms_per_frame(path, True, args.repeats)} for name, path in clips.items()}
    print(f"CPU: {cpu_model()}; {args.size}" if not args.clip else f"CPU: {cpu_model()}")
    for name, row in rows.items():
        print(f"{name:12s} {row['rgb24_ms']:7.1f} ms/frame 8-bit RGB  {row['rgb48_ms']:7.1f} ms/frame 16-bit RGB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_model(), "size": args.size, "clips": rows}, indent=2))


if __name__ == "__main__":
    main()
