"""Test videos generated with PyAV: known frame count, rate, timestamps, audio, size and rotation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """A gradient background with a bright square moving right by 2 px a frame."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 200 // max(width, 1), yy * 200 // max(height, 1), np.full_like(xx, 90)], 2)
    frames = []
    for i in range(n):
        frame = base.astype(np.uint8).copy()
        x = (4 + 2 * i) % max(width - 8, 1)
        frame[height // 3: height // 3 + 8, x: x + 8] = 250
        frames.append(frame)
    return frames


def make_video(path: Path, frames: int = 12, rate: Fraction | int = 24, size: tuple[int, int] = (64, 48),
               audio: str | None = "aac", pts: list[int] | None = None, time_base: Fraction | None = None,
               rotation: int = 0, faststart: bool = False, lossless: bool = False) -> Path:
    """Write an H.264 video (yuv444p when a side is odd) with an optional 440 Hz tone lasting as long.
    ``lossless``: x264 at constant quality 0, so the decoded frames are the same bytes on every run (lossy
    x264 with frame threads is not bit-repeatable)."""
    width, height = size
    rate = Fraction(rate)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height = width, height
        video.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
        if lossless:
            video.options = {"crf": "0"}
        tb = time_base or 1 / rate
        video.time_base = tb
        video.codec_context.time_base = tb
        if rotation:
            video.set_display_rotation(rotation)
        stream_a = None
        if audio:
            stream_a = out.add_stream(audio, rate=44100)
            stream_a.layout = "mono"
        stamps = pts if pts is not None else list(range(frames))
        for image, stamp in zip(moving_frames(len(stamps), width, height), stamps):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = stamp, tb
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if stream_a is not None:
            seconds = float((stamps[-1] + 1) * tb) if stamps else 0.5
            total = int(seconds * 44100)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / 44100)).astype(np.float32)
            fmt = "fltp" if audio == "aac" else "s16p"
            for start in range(0, total, 1024):
                chunk = tone[None, start:start + 1024]
                if fmt == "s16p":
                    chunk = (chunk * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 44100, start, Fraction(1, 44100)
                for packet in stream_a.encode(frame):
                    out.mux(packet)
            for packet in stream_a.encode(None):
                out.mux(packet)
    return path


def read_video(path: Path) -> dict:
    """Frame count, timestamps (seconds, exact), rate, size, rotation, audio codec and duration."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate, tb = Fraction(stream.average_rate), Fraction(stream.time_base)
        frames = list(container.decode(stream))
        info = {"frames": len(frames), "pts": [Fraction(f.pts) * tb for f in frames], "rate": rate,
                "size": (stream.codec_context.width, stream.codec_context.height),
                "rotation": frames[0].rotation if frames else 0,
                "images": [f.to_ndarray(format="rgb24") for f in frames],
                "format": container.format.name}
    with av.open(str(path)) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            packets = [p for p in container.demux(a) if p.pts is not None and p.size]
            first, last = packets[0], packets[-1]
            info["audio"] = a.codec_context.name
            info["audio_start_s"] = float(first.pts * first.time_base)
            info["audio_end_s"] = float((last.pts + last.duration) * last.time_base)
            info["audio_s"] = info["audio_end_s"] - info["audio_start_s"]
        else:
            info["audio"], info["audio_s"] = None, 0.0
    return info
