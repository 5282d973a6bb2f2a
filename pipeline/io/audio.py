"""The source's audio for an output: its packets between two times, copied as they are or transcoded (AAC, or
Opus for WebM) into a layout and sample rate the encoder takes, each placed at its source time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction

import av

from pipeline.io.decode import VideoInfo, timeline
from pipeline.io.demux import packets
from pipeline.io.tracks import TrackCopy, label, open_input

log = logging.getLogger(__name__)

# What a transcode falls back to, by channel count, where the encoder refuses the source's layout: FFmpeg's AAC
# encoder takes no layout of unspecified order ("2 channels", as WMV and AVI files often declare), Opus no
# "5.1(side)" (AC-3's usual layout).
_USUAL_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _opens(codec: str, layout: str, rate: int) -> bool:
    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate, ctx.layout, ctx.time_base = rate, layout, Fraction(1, rate)
    ctx.format = av.Codec(codec, "w").audio_formats[0].name
    try:
        ctx.open()
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def encoder_audio(codec: str, layout: av.AudioLayout, rate: int) -> tuple[str, int]:
    """The layout and sample rate ``codec`` encodes a source of ``layout`` at ``rate`` in: the source's where
    the encoder takes them, else the usual layout of as many channels (then stereo) and the nearest rate the
    encoder has (AAC has none at 11024 Hz, a rate old AVI files use). Opus is always 48 kHz, as its decoders
    give it."""
    rates = [48000] if codec == "libopus" else av.Codec(codec, "w").audio_rates
    if rates and rate not in rates:
        rate = min(rates, key=lambda r: (abs(r - rate), -r))
    for name in (layout.name, _USUAL_LAYOUTS.get(layout.nb_channels)):
        if name and _opens(codec, name, rate):
            return name, rate
    return "stereo", rate


class _Seams:
    """Where the source's audio starts again part way (a file joined end to end, ``pipeline/io/timing.py``):
    each part moves as the video's part did (``decode.timeline``), so each keeps its own sync, and what of a
    part's start the part before still covers is left out (a muxer takes no audio going back)."""

    def __init__(self, info: VideoInfo) -> None:
        self.info, self.shift_s, self.count = info, 0.0, 0
        self.last_s: float | None = None
        self.end_s = self.covered_s = float("-inf")
        self._video: list[float] | None = None

    def place(self, t: float, duration: float) -> float | None:
        """A packet's time ``t`` (seconds) on the joined clock; None for one to leave out."""
        if self.last_s is not None and t + self.shift_s < self.last_s - 1.0:
            self.count += 1
            self.covered_s, self.shift_s = self.end_s, self._shift(t)
        t += self.shift_s
        if t < self.covered_s - 1e-3:
            return None
        self.last_s, self.end_s = t, max(self.end_s, t + duration)
        return t

    def _shift(self, t: float) -> float:
        if self._video is None:
            self._video = [float(shift * self.info.time_base) for shift in timeline(self.info)[1]]
        if self.count <= len(self._video):
            return self._video[self.count - 1]
        return self.end_s - t  # a seam in the audio alone: straight after the part before


class SourceAudio(TrackCopy):
    """Audio packets of one of the source's audio tracks (``track``: its index among them) between start and
    end (seconds), shifted by ``offset_s``, in order; copied as they are or transcoded (AAC, or Opus for WebM),
    its language, title and default flag kept. Each track reads the file on its own."""

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer, plan: str, start_s: float,
                 end_s: float | None, offset_s: float, out_format: str, track: int = 0) -> None:
        self.container = open_input(info.path, info.audio_late)
        self.in_stream = self.container.streams.audio[track]
        self.start_s, self.end_s, self.offset_s = start_s, end_s, offset_s
        self.plan = plan
        self.damaged = 0  # packets that would not decode (transcoding)
        if plan == "copy":
            self.out_stream = out.add_stream_from_template(self.in_stream)
        else:
            codec = "libopus" if out_format == "webm" else "aac"
            source = self.in_stream.codec_context
            layout, rate = encoder_audio(codec, source.layout, source.sample_rate)
            self.out_stream = out.add_stream(codec, rate=rate)
            self.out_stream.layout = layout
            self.resampler = av.AudioResampler(format=self.out_stream.codec_context.format.name,
                                               layout=self.out_stream.layout.name, rate=rate)
            self.rate, self.samples = rate, None
        self.seams = _Seams(info)
        label(self.out_stream, self.in_stream)
        self._packets = self._generate()

    def _in_range(self, t: float) -> bool:
        after_start = self.start_s <= 0 or t >= self.start_s - 1e-6  # keep AAC priming (negative pts)
        return after_start and (self.end_s is None or t < self.end_s - 1e-6)

    def _generate(self) -> Iterator[av.Packet]:
        tb = self.in_stream.time_base
        shift = int(round(self.offset_s / tb))
        if self.start_s > 0:
            self.container.seek(int(self.start_s / tb), stream=self.in_stream, backward=True)
        for packet in packets(self.container, self.in_stream):
            t = None if packet.pts is None else self.seams.place(float(packet.pts * tb),
                                                                 float((packet.duration or 0) * tb))
            if t is None:
                continue
            if not self._in_range(t):
                if self.end_s is not None and t >= self.end_s:
                    break
                continue
            if self.plan == "copy":
                moved = round(self.seams.shift_s / tb) - shift
                packet.pts += moved
                packet.dts = packet.pts if packet.dts is None else packet.dts + moved
                packet.stream = self.out_stream
                yield packet
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:  # a damaged packet: left out, as FFmpeg's own tools do, not the video
                self.damaged += 1
                continue
            for frame in frames:
                yield from self._encode(frame)
        if self.plan != "copy":
            yield from self._encode(None)

    def _encode(self, frame: av.AudioFrame | None) -> Iterator[av.Packet]:
        if frame is not None:
            self._place(frame)
        frames = self.resampler.resample(frame) if frame is not None else [None]
        for out_frame in frames:
            if out_frame is not None:
                out_frame.pts = self.samples
                out_frame.time_base = Fraction(1, out_frame.sample_rate)
                self.samples += out_frame.samples
            yield from self.out_stream.encode(out_frame)

    def _place(self, frame: av.AudioFrame) -> None:
        """Start the encoded samples at the source frame's time (less ``offset_s``), and past a gap in the
        source (over 0.1 s) go on from where it resumes: counted from zero, the audio of a stream whose clock
        starts at 10 s (an MPEG-TS) came 10 s before its pictures."""
        t = None if frame.pts is None else float(frame.pts * frame.time_base) + self.seams.shift_s
        at = 0 if t is None else round((t - self.offset_s) * self.rate)
        if self.samples is None:
            self.samples = max(0, at)
        elif at - self.samples > self.rate // 10:
            self.samples = at

    def close(self) -> None:
        if self.damaged:
            log.warning("%s: %d damaged packets of its audio (stream %d) did not decode; left out (a gap in the sound)",
                        self.container.name, self.damaged, self.in_stream.index)
        super().close()
