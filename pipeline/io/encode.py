"""Encoding with PyAV: which outputs can be written, each encoder's settings, and one segment's writer.

A segment is an MP4 file of video only, opening with a keyframe, that keeps the source's presentation
times; ``pipeline/io/join.py`` joins the segments into the output by stream copy.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import EncodeFailed, FrameSizeError, JobError, VideoError, reason
from pipeline.io.animated import ANIMATED_FORMATS, ANIMATED_OUTPUTS
from pipeline.io.color import Colour, from_rgb, tag_stream
from pipeline.io.encoder_trial import needs_trial, trial_problem
from pipeline.io.scheduling import ordinary_threads
from pipeline.io.sequence_out import DEEP_OUTPUTS, SEQUENCE_OUTPUTS, is_sequence_output
from pipeline.io.tracks import MP3_LOW_RATE
from pipeline.io.walk import is_pattern
from pipeline.options import EncodeOptions

# Encoders whose packets carry no real decode time when given at most this many frames: x265 subtracts a B-frame
# delay it sets only once the frame after the delay arrives (Encoder::m_bframeDelayTime, never initialised), so a
# 1- or 2-frame segment got dts 9e18 or -9e15, which the MP4 muxer refused once that memory was not zero.
_SHORT_ENCODE_DTS = {"libx265": 2}
# x265's CU-tree (its lookahead's propagation of costs) writes past its buffers on frames 16 to 48 pixels wide
# (valgrind; x265 in PyAV 18's wheel, any pixel format): the heap corrupted, the process aborted a few segments
# later ("corrupted size vs. prev_size"). Frames narrower than one 64-pixel CTU are encoded without it. (x265's
# asm setting is no cure: its kernels are chosen once per process, by the first encoder opened.)
_X265_NARROW = 64
_ORDINARY = (240, 320)  # (height, width) any encoder opens at: a refusal at a run's size but not here is its size
# What an output may be called, and the muxer each suffix gets.
_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
OUTPUT_EXTENSIONS = set(_FORMATS)
# Audio each container takes as it is (each entry muxes there: tests/test_audio_copy.py), kept to what players
# read: PCM stays PCM in MOV, MKV and AVI (a camera's or an editor's 24-bit audio is not made AAC), MP2 (DVD,
# broadcast, old AVIs) stays MP2; MP4 takes no PCM (FFmpeg writes ISO's ipcm, which browsers do not play) and
# no MP3 under 16 kHz (its muxer refuses it). Anything else is transcoded.
_PCM = {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_f32le", "pcm_u8"}
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", MP3_LOW_RATE, "mp2", "ac3", "eac3", "alac"} | _PCM,
    "matroska": {"aac", "mp3", MP3_LOW_RATE, "mp2", "ac3", "eac3", "opus", "vorbis", "flac", "alac"} | _PCM,
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", MP3_LOW_RATE, "mp2", "ac3", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8"},
}


def output_format(path: Path) -> str:
    """The muxer of a video output, ``gif``/``webp``/``apng``/``avif`` for animated images
    (``pipeline/io/animated.py``), ``image2`` (FFmpeg's name) for an image sequence (``pipeline/io/sequence_out.py``)."""
    if is_sequence_output(path):
        return "image2"
    suffix = path.suffix.lower()
    return ANIMATED_FORMATS.get(suffix) or _FORMATS.get(suffix, "mp4")


def is_animated_output(path: Path) -> bool:
    return path.suffix.lower() in ANIMATED_OUTPUTS and not is_pattern(path)


def from_frames(path: Path) -> bool:
    """Whether ``path`` is written from the segments' decoded frames (an animated image, an image sequence),
    not by stream copy: its segments are lossless and it holds no audio."""
    return is_animated_output(path) or is_sequence_output(path)


def output_suffix(path: Path) -> str:
    """``path``'s suffix where it names a writable container or animated image, else ``.mp4`` (for outputs
    mirrored from inputs such as ``.ts`` or ``.h264``)."""
    suffix = path.suffix.lower()
    return suffix if suffix in OUTPUT_EXTENSIONS or suffix in ANIMATED_OUTPUTS else ".mp4"


def even_size(height: int, width: int, pix_fmt: str) -> tuple[int, int]:
    """Chroma-subsampled formats need even sides; the frame is padded (never cropped) to get them."""
    if pix_fmt.startswith(("yuv420", "yuvj420", "nv12", "yuv422")):
        return height + height % 2, width + width % 2
    return height, width


def encoder_options(opts: EncodeOptions, width: int | None = None) -> dict[str, str]:
    """Quality and speed settings in each encoder's own terms, for frames ``width`` pixels wide.

    x264 looks ``opts.lookahead`` frames ahead instead of its preset's 40: each frame it holds is memory
    (docs/BENCHMARKS.md, "Full-size 1080p on the CPU (2026-12-03)")."""
    if opts.codec == "libx264":
        return {"crf": str(opts.crf), "preset": opts.preset, "rc-lookahead": str(opts.lookahead)}
    if opts.codec == "libx265":
        narrow = width is not None and width < _X265_NARROW
        return {"crf": str(opts.crf), "preset": opts.preset, **({"x265-params": "cutree=0"} if narrow else {})}
    if opts.codec == "libvpx-vp9":
        return {"crf": str(opts.crf), "b": "0"}  # constant quality needs a zero bitrate target
    if opts.codec == "libsvtav1":
        return {"crf": str(opts.crf)}
    if opts.codec.endswith("_nvenc"):
        return {"cq": str(opts.crf), "rc": "vbr"}
    return {}


def codec_for_container(opts: EncodeOptions, output: Path, deep: bool = False) -> EncodeOptions:
    """WebM holds only VP8/VP9/AV1: the default H.264 becomes VP9 there. AVI stores no presentation times,
    so frames must be stored in the order they are shown: no B-frames. ``deep``: the source is deeper than 8
    bits (an image sequence of 16-bit PNG or TIFF frames keeps 10 of them)."""
    fmt = output_format(output)
    if from_frames(output):  # decoded once into the animated image or the frames
        deep = deep and is_sequence_output(output) and output.suffix.lower() in DEEP_OUTPUTS
        return replace(lossless_segments(opts, deep), audio="none")
    if fmt == "webm" and opts.codec == "libx264":
        return replace(opts, codec="libvpx-vp9")
    if fmt == "avi" and opts.b_frames:
        return replace(opts, b_frames=False)
    return opts


def lossless_segments(opts: EncodeOptions, deep: bool) -> EncodeOptions:
    """Lossless 4:4:4 H.264 segments (10-bit for a source deeper than 8 bits), without B-frames, for an output
    made from their decoded frames. ultrafast: the same pixels, without CABAC: encoded 6x and decoded 4x as fast
    as medium, 11 % larger (docs/BENCHMARKS.md, "Lossless segments")."""
    return replace(opts, codec="libx264", crf=0, preset="ultrafast", pix_fmt="yuv444p10le" if deep else "yuv444p",
                   b_frames=False)


def check_encoder(opts: EncodeOptions, size: tuple[int, int], rate: Fraction) -> None:
    """Open the encoder once with the real settings, so a missing or unusable one (e.g. h264_nvenc without an
    NVIDIA encoder) is one clear error before any work is done: JobError, as it is every video's. Where it
    opens at an ordinary size but not at ``size`` (x265 under 16 pixels a side, SVT-AV1 under 4: their own
    limits), FrameSizeError, that video's. Small frames are encoded in a child process first
    (``encoder_trial.py``): some encoders hang or crash on them."""
    if opts.codec not in av.codecs_available:
        raise JobError(f"encoder {opts.codec!r} is not available in this PyAV build")
    try:
        problem = _open_problem(opts, size, rate)
        if problem is None:
            trial = _trial(opts, size, rate) if needs_trial(size) else None
            if trial is not None:
                raise FrameSizeError(_cannot_encode(opts, size, trial))
            return
        if _open_problem(opts, _ORDINARY, rate) is None:
            raise FrameSizeError(_cannot_encode(opts, size, f"{problem}; it opens at {_ORDINARY[1]}x{_ORDINARY[0]}"))
        raise JobError(f"encoder {opts.codec} cannot be used here with {opts.pix_fmt} ({problem})")
    finally:
        ordinary_threads()


def _cannot_encode(opts: EncodeOptions, size: tuple[int, int], why: str) -> str:
    return (f"encoder {opts.codec} cannot encode {size[1]}x{size[0]} frames ({why}): use a larger --size or another "
            "--codec")


def _trial(opts: EncodeOptions, size: tuple[int, int], rate: Fraction) -> str | None:
    """What went wrong in a child's trial encode with the segments' settings (``encoder_trial.py``)."""
    options = tuple(sorted(encoder_options(opts, size[1]).items()))
    return trial_problem(opts.codec, opts.pix_fmt, options, tuple(size), (rate.numerator, rate.denominator),
                         None if opts.b_frames else 0)



def _open_problem(opts: EncodeOptions, size: tuple[int, int], rate: Fraction) -> str | None:
    """Why the encoder of ``opts`` does not open for frames of ``size`` (height, width); None where it does."""
    try:
        ctx = av.CodecContext.create(opts.codec, "w")
        ctx.height, ctx.width = size
        ctx.pix_fmt = opts.pix_fmt
        ctx.time_base = 1 / rate
        ctx.options = encoder_options(opts, size[1])
        ctx.open()
    except (av.error.FFmpegError, ValueError) as exc:
        return reason(exc)
    return None


def audio_plan(audio_codec: str | None, out_format: str, mode: str) -> str:
    """'copy', 'transcode' or 'none' for the source's audio in the given output container (animated images
    hold none)."""
    if audio_codec is None or mode == "none" or out_format in (*ANIMATED_FORMATS.values(), "image2"):
        return "none"
    copyable = audio_codec in _COPYABLE_AUDIO.get(out_format, set())
    if mode == "copy":
        if not copyable:
            raise VideoError(f"--audio copy: {out_format} cannot hold {audio_codec} audio; use --audio aac")
        return "copy"
    return "copy" if mode == "auto" and copyable else "transcode"


def check_output(path: Path, opts: EncodeOptions, audio_codec: str | None = None) -> None:
    """Refuse, before any work, an output that cannot be written: a suffix that names no writable
    container or a container that cannot hold the codec (JobError), or ``--audio copy`` of a source's
    ``audio_codec`` the container cannot hold (VideoError). ``opts`` as ``codec_for_container`` gives them;
    run ``check_encoder`` first, which names an unusable encoder."""
    if is_pattern(path) and not is_sequence_output(path):
        raise JobError(f"output {path.name}: an image sequence's frames are written as one of "
                       f"{', '.join(sorted(SEQUENCE_OUTPUTS))}, not {path.suffix or 'files without a suffix'}")
    if not is_pattern(path) and path.suffix.lower() not in OUTPUT_EXTENSIONS | set(ANIMATED_OUTPUTS):
        raise JobError(f"output {path.name}: cannot write {path.suffix or 'a file without a suffix'}; "
                       f"the output must end in one of {', '.join(sorted(OUTPUT_EXTENSIONS | set(ANIMATED_OUTPUTS)))}")
    fmt = output_format(path)
    audio_plan(audio_codec, fmt, opts.audio)
    if from_frames(path):
        fmt = "mp4"  # what its segments are written into
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as out:
            stream = out.add_stream(opts.codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 64, opts.pix_fmt
            out.start_encoding()
    except (av.error.FFmpegError, ValueError) as exc:
        if "avcodec_open2" in str(exc):  # the encoder, not the container (NVENC without an NVIDIA encoder)
            raise JobError(f"encoder {opts.codec} cannot be opened here ({reason(exc)})") from None
        raise JobError(f"output {path.name}: cannot write {opts.codec} video into {fmt} ({exc})") from None
    finally:
        ordinary_threads()


class SegmentWriter:
    """Encode one run of frames into its own file (video only), keeping the source timestamps; ``colour``:
    the matrix and range RGB is converted with and the stream is tagged with (``pipeline/io/color.py``)."""

    def __init__(self, path: Path, size: tuple[int, int], rate: Fraction, time_base: Fraction,
                 opts: EncodeOptions, colour: Colour | None = None) -> None:
        self.path, self.colour = path, colour
        # The segment's start is an edit list in the movie's time scale: in the frames' own it is exact.
        self.container = av.open(str(path), "w", format="mp4", options={"movie_timescale": str(time_base.denominator)})
        self.stream = self.container.add_stream(opts.codec, rate=rate)
        self.stream.height, self.stream.width = size
        self.stream.pix_fmt = opts.pix_fmt
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        self.stream.options = encoder_options(opts, size[1])
        tag_stream(self.stream.codec_context, colour)
        if not opts.b_frames:
            self.stream.codec_context.max_b_frames = 0
        if opts.codec == "libx264":
            # PyAV opens encoders with slice threading, which switches x264 to its low-latency sliced threads;
            # frame threads are x264's (and the ffmpeg CLI's) default and scale to many cores.
            self.stream.codec_context.thread_type = "FRAME"
        if opts.threads:
            self.stream.codec_context.thread_count = opts.threads
        self.time_base, self.given = time_base, 0
        self.short_encode = _SHORT_ENCODE_DTS.get(opts.codec, 0)  # up to this many frames given: dts unstated

    def _encode(self, frame: av.VideoFrame | None) -> None:
        """Encode ``frame`` (None: the end) and mux what the encoder gives; from an encoder given too few frames
        to state decode times, each packet at its presentation time (so few frames are never reordered)."""
        try:
            for packet in self.stream.encode(frame):
                if self.given <= self.short_encode:
                    packet.dts = packet.pts
                self.container.mux(packet)
        except av.error.FFmpegError as exc:
            if isinstance(exc, OSError):  # a full disk: the run's "writing failed"
                raise
            raise EncodeFailed(f"{self.stream.codec_context.name} refused frame {self.given} of a segment "
                               f"({reason(exc)}); the finished segments are kept for --resume") from None

    def write(self, image: np.ndarray, pts: int) -> None:
        """``image``: (H, W, 3) RGB (uint8, or uint16 for deep formats), or (H * 3 // 2, W) packed yuv420p
        already converted on the GPU with ``colour``'s matrix."""
        if image.ndim == 2:
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            if frame.format.name != self.stream.pix_fmt:
                frame = frame.reformat(format=self.stream.pix_fmt)
        else:
            frame = from_rgb(image, self.stream.pix_fmt, self.colour)
        frame.pts, frame.time_base = pts, self.time_base
        opening = not self.stream.codec_context.is_open
        self.given += 1
        self._encode(frame)
        if opening:  # the encoder opened with this frame (its threads started)
            ordinary_threads()

    def close(self) -> None:
        self._encode(None)
        self.container.close()

    def discard(self) -> None:
        """Give up on the file, so nothing half-written is left behind. Closing can fail as the writing did
        (a full disk); for a file being deleted that changes nothing, and the first error is the one to report."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self.container.close()
        self.path.unlink(missing_ok=True)
