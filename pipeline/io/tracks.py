"""Opening a media file, which of its video streams is the picture, and the tracks besides it that an output
keeps: audio and subtitles, how they are labelled, and how one track's packets are muxed in time with the
pictures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from pipeline.errors import VideoError, reason
from pipeline.io import truncation
from pipeline.io.timecode import timecode_tag

_DECODER_ALIASES = {"mp3float": "mp3", "aac_fixed": "aac"}
# MP3 at 8 to 12 kHz (MPEG-2.5: Flash videos, old cameras' AVIs), which FFmpeg's MP4 muxer refuses to hold.
MP3_LOW_RATE = "mp3 under 16 kHz"
# FFmpeg takes a stream's parameters (an audio sample rate) from its first 5 s (analyzeduration) or 5 MB
# (probesize); a stream that starts later has none, and no muxer writes a header for it. Reading on is bounded
# (10 minutes, 1 GiB): a stream that never comes would otherwise have the whole file read to find that out.
_PROBE_ALL = {"analyzeduration": str(600 * 1_000_000), "probesize": str(2**30)}


def open_input(path: Path, probe_all: bool = False) -> av.container.InputContainer:
    """The file opened for reading; metadata that is not UTF-8 (old cameras write Latin-1) is read, not fatal.
    ``probe_all``: FFmpeg reads on until it has every stream's parameters (up to 10 minutes), not only 5 s."""
    return av.open(str(path), metadata_errors="replace", options=_PROBE_ALL if probe_all else {})


def main_video(container: av.container.InputContainer):
    """The video stream a player shows (FFmpeg's best: the default, the most frames; of an HLS or DASH master
    playlist's variants, the highest bitrate), never a cover picture (an MP4's or an MKV's artwork, an audio
    file's cover, FFmpeg's "attached pic": one still, not the film); None where there is none but those."""
    pictures = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    variants = [s for s in pictures if s.metadata.get("variant_bitrate", "").isdigit()]
    if len(variants) > 1:  # an HLS or DASH master playlist: the best, as a player with the bandwidth shows
        return max(variants, key=lambda s: (int(s.metadata["variant_bitrate"]), s.codec_context.width))
    best = container.streams.best("video")
    return best if best in pictures else (pictures[0] if pictures else None)


def open_video(path: Path) -> av.container.InputContainer:
    """``path`` opened for reading its pictures; VideoError in one line where it cannot be (missing, empty, a
    folder, an MP4 cut before its index, nothing FFmpeg reads)."""
    if not path.exists():
        raise VideoError("no such file")
    if path.is_dir():
        raise VideoError("is a directory, not a video")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    if truncation.lost_mp4_index(path):
        raise VideoError("truncated: the file stops before the end of its index (an MP4/MOV written without "
                         "faststart keeps it at the end), and without it no frame can be found")
    try:
        return open_input(path)
    except (av.error.FFmpegError, ValueError) as exc:  # ValueError: PyAV's own checks of what it read
        raise VideoError(f"not a readable video ({reason(exc)})") from None


def video_stream(container: av.container.InputContainer):
    """The stream ``main_video`` picks, checked: VideoError where there is none or it cannot be decoded."""
    stream = main_video(container)
    if stream is None:
        kind = "audio-only file" if container.streams.audio else "no streams"
        kind += "; its cover picture is no video" if container.streams.video else ""
        raise VideoError(f"no video stream ({kind})")
    ctx = stream.codec_context
    if ctx is None or ctx.name in (None, "none"):
        raise VideoError(f"unsupported video codec ({ctx.name if ctx else 'unknown'})")
    if ctx.width == 0:
        raise VideoError(f"no picture size in the {ctx.name} stream (truncated or corrupt)")
    return stream


def first_audio(container: av.container.InputContainer) -> tuple[str | None, bool, bool]:
    """The first audio stream's decoder name (None: no audio it can copy), whether its parameters lie past
    what FFmpeg reads at first (``open_input(probe_all=True)`` finds them), and whether a declared stream was
    left out for having no samples at all (an MPEG-TS program can list an audio stream that never comes)."""
    if not container.streams.audio or not _known(container.streams.audio[0]):
        return None, False, False
    late = False
    if not container.streams.audio[0].codec_context.sample_rate:
        with open_input(Path(container.name), probe_all=True) as again:
            ctx, late = again.streams.audio[0].codec_context, True
    else:
        ctx = container.streams.audio[0].codec_context
    if not ctx.sample_rate:
        return None, False, True
    return decoder_name(ctx), late, False


def decoder_name(ctx) -> str:
    """The audio decoder's name as the copy rules know it (``pipeline/io/encode.py``)."""
    name = _DECODER_ALIASES.get(ctx.name, ctx.name)
    return MP3_LOW_RATE if name == "mp3" and ctx.sample_rate < 16000 else name


def _known(stream) -> bool:
    """Whether FFmpeg knows the stream's codec (a Matroska codec ID it has never heard of gives none)."""
    return stream.codec_context is not None and stream.codec_context.name not in (None, "none")


def more_audio(container: av.container.InputContainer) -> tuple[tuple[int, str], ...]:
    """The audio tracks after the first (a film's other languages, a commentary) whose codec FFmpeg knows and
    finds a sample rate for at its first look: (index among the audio streams, decoder name)."""
    return tuple((index, decoder_name(stream.codec_context)) for index, stream in enumerate(container.streams.audio)
                 if index and _known(stream) and stream.codec_context.sample_rate)


def data_tracks(container: av.container.InputContainer) -> list[int]:
    """The indices (among the data streams) of ``container``'s data tracks (telemetry, timed metadata) other
    than its timecode track, which an output makes anew from the timecode (``pipeline/io/timecode.py``)."""
    return [index for index, stream in enumerate(container.streams.data) if timecode_tag(stream.metadata) is None]


def subtitle_tracks(container: av.container.InputContainer) -> tuple[tuple[int, str, str], ...]:
    """Each subtitle track: (index among the subtitle streams, decoder name, language or "")."""
    return tuple((index, stream.codec_context.name, stream.metadata.get("language", ""))
                 for index, stream in enumerate(container.streams.subtitles) if _known(stream))


def unknown_tracks(container: av.container.InputContainer) -> tuple[str, ...]:
    """The audio and subtitle tracks FFmpeg cannot read (no codec it knows), as "audio stream 2 (fra)"."""
    return tuple(f"{stream.type} stream {stream.index}" + (f" ({stream.metadata['language']})"
                                                          if stream.metadata.get("language") else "")
                 for stream in (*container.streams.audio, *container.streams.subtitles) if not _known(stream))


def label(out_stream, in_stream) -> None:
    """The track's language and title, and whether players take it by default, as the source states them. MP4
    and MOV keep a title in the track's ``udta`` (FFmpeg reads it back as ``name``), and players show the
    handler's name, so that is the title too."""
    if in_stream.metadata.get("language"):
        out_stream.metadata["language"] = in_stream.metadata["language"]
    title = in_stream.metadata.get("title") or in_stream.metadata.get("name")
    if title:
        out_stream.metadata["title"] = title
        if {"mp4", "mov"} & set(out_stream.container.format.name.split(",")):
            out_stream.metadata["handler_name"] = title
    out_stream.disposition = in_stream.disposition


class TrackCopy:
    """One source track's packets for an output, muxed in time with the pictures. Subclasses set ``container``
    (the file opened for this track alone) and ``_packets`` (its packets, ready for the output)."""

    container: av.container.InputContainer
    _packets: Iterator[av.Packet]
    _held: av.Packet | None = None  # the packet past the time asked for last, muxed at the next call

    def mux_until(self, out: av.container.OutputContainer, t_s: float | None) -> None:
        """Mux the packets up to ``t_s`` seconds (all of them when None)."""
        while True:
            packet, self._held = (self._held if self._held is not None else next(self._packets, None)), None
            if packet is None:
                return
            if t_s is not None and packet.pts is not None and float(packet.pts * packet.time_base) > t_s:
                self._held = packet
                return
            out.mux(packet)

    def close(self) -> None:
        self.container.close()
