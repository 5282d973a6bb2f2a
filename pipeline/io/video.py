"""Video decoding and encoding with PyAV: probe, stream frames out, encode segments, join with audio.

Frames carry their source presentation timestamps in the source stream's time base, so frame rate
(including 30000/1001) and variable frame timing survive unchanged. Encoding happens in independent
segments (each opening with a keyframe), which a final pass joins by stream copy while interleaving the
audio: a resumed job only re-encodes missing segments and gives the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import VideoError
from pipeline.options import EncodeOptions

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm"}
# Audio codecs each output container takes as they are; anything else is transcoded.
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"},
    "matroska": {"aac", "mp3", "ac3", "eac3", "opus", "vorbis", "flac", "pcm_s16le", "alac"},
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "pcm_s16le"},
}
_DECODER_ALIASES = {"mp3float": "mp3", "aac_fixed": "aac"}


@dataclass
class VideoInfo:
    path: Path
    width: int  # as displayed, after rotation
    height: int
    rate: Fraction  # average frame rate, exact
    time_base: Fraction
    frames: int  # from the container; 0 when unknown
    duration_s: float
    rotation: int  # counter-clockwise degrees the decoded frames need to be upright
    codec: str
    audio_codec: str | None

    @property
    def expected_frames(self) -> int:
        return self.frames or round(self.duration_s * float(self.rate))


@dataclass
class Frame:
    index: int
    pts: int  # in VideoInfo.time_base
    image: np.ndarray  # (H, W, 3) uint8 RGB, upright


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError("no such file")
    if path.is_dir():
        raise VideoError("is a directory, not a video")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(f"not a readable video ({exc.strerror or exc})") from None


def probe(path: Path) -> VideoInfo:
    """Read the stream parameters, refusing files that have no decodable video stream."""
    with _open(path) as container:
        if not container.streams.video:
            kind = "audio-only file" if container.streams.audio else "no streams"
            raise VideoError(f"no video stream ({kind})")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or ctx.name in (None, "none") or ctx.width == 0:
            raise VideoError(f"unsupported video codec ({stream.codec_context.name if ctx else 'unknown'})")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise VideoError("video stream has no frame rate")
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / av.time_base if container.duration else 0.0)
        rotation = _stream_rotation(container, stream)
        width, height = (ctx.height, ctx.width) if rotation % 180 else (ctx.width, ctx.height)
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return VideoInfo(path, width, height, Fraction(rate), Fraction(stream.time_base), stream.frames or 0,
                         duration, rotation, ctx.name, _DECODER_ALIASES.get(audio, audio))


def _stream_rotation(container: av.container.InputContainer, stream) -> int:
    """Rotation from the first decodable frame's display matrix (0 when there is no frame)."""
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360
    except av.error.FFmpegError as exc:
        raise VideoError(f"cannot decode the first frame ({exc.strerror or exc})") from None
    raise VideoError("video stream has no frames (zero-length video)")


def frame_timestamps(info: VideoInfo) -> list[int]:
    """Presentation timestamps of every video frame, in order, read from the packets without decoding:
    a frame's index in this list is the index the decoder gives it, which lets a worker start mid-file."""
    with _open(info.path) as container:
        stream = container.streams.video[0]
        return sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)


def decode_frames(info: VideoInfo, start_s: float = 0.0, duration_s: float | None = None,
                  max_frames: int | None = None, first_index: int = 0,
                  timestamps: list[int] | None = None) -> Iterator[Frame]:
    """Decode upright RGB frames in presentation order, with frame threading on.

    ``first_index`` (with the ``frame_timestamps`` list) seeks to the keyframe before that frame and
    yields from it on with the same indices a decode from the start would give. A decoding error
    (truncated or corrupt file) raises VideoError naming how far decoding got.
    """
    end_s = None if duration_s is None else start_s + duration_s
    index_of = {pts: i for i, pts in enumerate(timestamps)} if timestamps is not None else None
    with _open(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if first_index > 0 and timestamps is not None:
            container.seek(timestamps[first_index], stream=stream, backward=True)
        elif start_s > 0:
            container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        index = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base)
                if t < start_s - 1e-6:
                    continue
                if index_of is not None:
                    index = index_of.get(frame.pts, index)
                    if index < first_index:
                        continue
                if (end_s is not None and t >= end_s - 1e-6) or (max_frames is not None and index >= max_frames):
                    return
                image = frame.to_ndarray(format="rgb24")
                if info.rotation:
                    image = np.ascontiguousarray(np.rot90(image, k=info.rotation // 90))
                yield Frame(index, frame.pts, image)
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"truncated or corrupt: decoding failed after {index} frames "
                             f"({exc.strerror or exc})") from None
    if index == 0:
        raise VideoError("no frames in the requested range")


def even_size(height: int, width: int, pix_fmt: str) -> tuple[int, int]:
    """Chroma-subsampled formats need even sides; the frame is padded (never cropped) to get them."""
    if pix_fmt.startswith(("yuv420", "yuvj420", "nv12", "yuv422")):
        return height + height % 2, width + width % 2
    return height, width


def encoder_options(opts: EncodeOptions) -> dict[str, str]:
    """Quality and speed settings in each encoder's own terms.

    x264 looks 20 frames ahead instead of its preset's 40 (x265's default, and x264's own at ``faster``): each
    1080p frame it holds costs about 6.5 MB, so the encoder peaked 130 MB lower (420 -> 288 MB over 96 frames
    at ``medium``), no slower (17.9 -> 21.0-22.4 frames/s on 2 cores), and the file was the same size to
    0.1 %."""
    if opts.codec == "libx264":
        return {"crf": str(opts.crf), "preset": opts.preset, "rc-lookahead": str(opts.lookahead)}
    if opts.codec == "libx265":
        return {"crf": str(opts.crf), "preset": opts.preset}
    if opts.codec == "libvpx-vp9":
        return {"crf": str(opts.crf), "b": "0"}  # constant quality needs a zero bitrate target
    if opts.codec == "libsvtav1":
        return {"crf": str(opts.crf)}
    if opts.codec.endswith("_nvenc"):
        return {"cq": str(opts.crf), "rc": "vbr"}
    return {}


def codec_for_container(opts: EncodeOptions, output: Path) -> EncodeOptions:
    """WebM holds only VP8/VP9/AV1: the default H.264 becomes VP9 there."""
    if output.suffix.lower() == ".webm" and opts.codec == "libx264":
        return replace(opts, codec="libvpx-vp9")
    return opts


def check_encoder(opts: EncodeOptions, size: tuple[int, int], rate: Fraction) -> None:
    """Open the encoder once with the real settings, so a missing or unusable one (e.g. h264_nvenc without an
    NVIDIA encoder) is one clear error before any work is done."""
    if opts.codec not in av.codecs_available:
        raise VideoError(f"encoder {opts.codec!r} is not available in this PyAV build")
    try:
        ctx = av.CodecContext.create(opts.codec, "w")
        ctx.height, ctx.width = size
        ctx.pix_fmt = opts.pix_fmt
        ctx.time_base = 1 / rate
        ctx.options = encoder_options(opts)
        ctx.open()
    except (av.error.FFmpegError, ValueError) as exc:
        raise VideoError(f"encoder {opts.codec} cannot be used here with {opts.pix_fmt} ({exc})") from None


class SegmentWriter:
    """Encode one run of frames into its own file (video only), keeping the source timestamps."""

    def __init__(self, path: Path, size: tuple[int, int], rate: Fraction, time_base: Fraction,
                 opts: EncodeOptions) -> None:
        self.path = path
        self.container = av.open(str(path), "w", format="mp4")
        self.stream = self.container.add_stream(opts.codec, rate=rate)
        self.stream.height, self.stream.width = size
        self.stream.pix_fmt = opts.pix_fmt
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        self.stream.options = encoder_options(opts)
        if opts.codec == "libx264":
            # PyAV opens encoders with slice threading, which switches x264 to its low-latency sliced threads;
            # frame threads are x264's (and the ffmpeg CLI's) default and scale to many cores.
            self.stream.codec_context.thread_type = "FRAME"
        if opts.threads:
            self.stream.codec_context.thread_count = opts.threads
        self.time_base = time_base

    def write(self, image: np.ndarray, pts: int) -> None:
        """``image``: (H, W, 3) RGB, or (H * 3 // 2, W) packed yuv420p already converted on the GPU."""
        if image.ndim == 2:
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if frame.format.name != self.stream.pix_fmt:
            frame = frame.reformat(format=self.stream.pix_fmt)
        frame.pts, frame.time_base = pts, self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def discard(self) -> None:
        """Give up on the file, so nothing half-written is left behind. Closing can fail as the writing did
        (a full disk); for a file being deleted that changes nothing, and the first error is the one to report."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self.container.close()
        self.path.unlink(missing_ok=True)


def _audio_plan(info: VideoInfo, out_format: str, mode: str) -> str:
    """'copy', 'transcode' or 'none' for the source's audio in the given output container."""
    if info.audio_codec is None or mode == "none":
        return "none"
    copyable = info.audio_codec in _COPYABLE_AUDIO.get(out_format, set())
    if mode == "copy":
        if not copyable:
            raise VideoError(f"--audio copy: {out_format} cannot hold {info.audio_codec} audio; use --audio aac")
        return "copy"
    return "copy" if mode == "auto" and copyable else "transcode"


def _output_format(path: Path) -> str:
    return {".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov"}.get(path.suffix.lower(), "mp4")


class _AudioSource:
    """Audio packets of the source between start and end (seconds), shifted by ``offset_s``, in order;
    copied as they are or transcoded (AAC, or Opus for WebM)."""

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer, plan: str, start_s: float,
                 end_s: float | None, offset_s: float, out_format: str) -> None:
        self.container = av.open(str(info.path))
        self.in_stream = self.container.streams.audio[0]
        self.start_s, self.end_s, self.offset_s = start_s, end_s, offset_s
        self.plan = plan
        if plan == "copy":
            self.out_stream = out.add_stream_from_template(self.in_stream)
        else:
            codec = "libopus" if out_format == "webm" else "aac"
            rate = self.in_stream.codec_context.sample_rate
            rate = 48000 if codec == "libopus" else rate
            self.out_stream = out.add_stream(codec, rate=rate)
            self.out_stream.layout = self.in_stream.codec_context.layout.name
            self.resampler = av.AudioResampler(format=self.out_stream.codec_context.format.name,
                                               layout=self.out_stream.layout.name, rate=rate)
            self.samples = 0
        self._packets = self._generate()

    def _in_range(self, t: float) -> bool:
        after_start = self.start_s <= 0 or t >= self.start_s - 1e-6  # keep AAC priming (negative pts)
        return after_start and (self.end_s is None or t < self.end_s - 1e-6)

    def _generate(self) -> Iterator[av.Packet]:
        tb = self.in_stream.time_base
        shift = int(round(self.offset_s / tb))
        if self.start_s > 0:
            self.container.seek(int(self.start_s / tb), stream=self.in_stream, backward=True)
        for packet in self.container.demux(self.in_stream):
            if packet.pts is None:
                continue
            if not self._in_range(float(packet.pts * tb)):
                if self.end_s is not None and float(packet.pts * tb) >= self.end_s:
                    break
                continue
            if self.plan == "copy":
                packet.pts -= shift
                packet.dts = packet.pts if packet.dts is None else packet.dts - shift
                packet.stream = self.out_stream
                yield packet
                continue
            for frame in packet.decode():
                yield from self._encode(frame)
        if self.plan != "copy":
            yield from self._encode(None)

    def _encode(self, frame: av.AudioFrame | None) -> Iterator[av.Packet]:
        frames = self.resampler.resample(frame) if frame is not None else [None]
        for out_frame in frames:
            if out_frame is not None:
                out_frame.pts = self.samples
                out_frame.time_base = Fraction(1, out_frame.sample_rate)
                self.samples += out_frame.samples
            yield from self.out_stream.encode(out_frame)

    def mux_until(self, out: av.container.OutputContainer, t_s: float | None, pending: list) -> None:
        """Mux the audio packets up to ``t_s`` seconds (all of them when None)."""
        while True:
            if not pending:
                packet = next(self._packets, None)
                if packet is None:
                    return
                pending.append(packet)
            packet = pending[0]
            if t_s is not None and packet.pts is not None and float(packet.pts * packet.time_base) > t_s:
                return
            out.mux(pending.pop(0))

    def close(self) -> None:
        self.container.close()


def join_segments(segments: list[Path], info: VideoInfo, output: Path, opts: EncodeOptions,
                  start_s: float = 0.0, end_s: float | None = None, offset_s: float = 0.0) -> None:
    """Stream-copy the video segments into ``output`` (written in place: callers pass a temporary name)
    with the source's audio interleaved by time; MP4/MOV get ``+faststart`` for browser playback."""
    out_format = _output_format(output)
    plan = _audio_plan(info, out_format, opts.audio)
    options = {"movflags": "+faststart"} if out_format in ("mp4", "mov") else {}
    with av.open(str(output), "w", format=out_format, options=options) as out:
        with av.open(str(segments[0])) as first:
            template = first.streams.video[0]
            v_out = out.add_stream_from_template(template)
            v_out.time_base = template.time_base
        audio = _AudioSource(info, out, plan, start_s, end_s, offset_s, out_format) if plan != "none" else None
        pending: list = []
        last_dts = None
        try:
            for segment in segments:
                with av.open(str(segment)) as seg:
                    for packet in seg.demux(seg.streams.video[0]):
                        if packet.size == 0:
                            continue
                        if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                            packet.dts = last_dts + 1  # segment seams: keep decode order strictly increasing
                        last_dts = packet.dts
                        if audio is not None:
                            audio.mux_until(out, float(packet.pts * packet.time_base), pending)
                        packet.stream = v_out
                        out.mux(packet)
            if audio is not None:
                audio.mux_until(out, None, pending)
        finally:
            if audio is not None:
                audio.close()
