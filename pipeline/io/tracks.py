"""Opening a media file, and the tracks besides its pictures that an output keeps: audio and subtitles."""

from __future__ import annotations

from pathlib import Path

import av

_DECODER_ALIASES = {"mp3float": "mp3", "aac_fixed": "aac"}
# FFmpeg takes a stream's parameters (an audio sample rate) from its first 5 s (analyzeduration) or 5 MB
# (probesize); a stream that starts later has none, and no muxer writes a header for it. Reading on is bounded
# (10 minutes, 1 GiB): a stream that never comes would otherwise have the whole file read to find that out.
_PROBE_ALL = {"analyzeduration": str(600 * 1_000_000), "probesize": str(2**30)}


def open_input(path: Path, probe_all: bool = False) -> av.container.InputContainer:
    """The file opened for reading; metadata that is not UTF-8 (old cameras write Latin-1) is read, not fatal.
    ``probe_all``: FFmpeg reads on until it has every stream's parameters (up to 10 minutes), not only 5 s."""
    return av.open(str(path), metadata_errors="replace", options=_PROBE_ALL if probe_all else {})


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
    return _DECODER_ALIASES.get(ctx.name, ctx.name), late, False


def _known(stream) -> bool:
    """Whether FFmpeg knows the stream's codec (a Matroska codec ID it has never heard of gives none)."""
    return stream.codec_context is not None and stream.codec_context.name not in (None, "none")


def more_audio(container: av.container.InputContainer) -> tuple[tuple[int, str], ...]:
    """The audio tracks after the first (a film's other languages, a commentary) whose codec FFmpeg knows and
    finds a sample rate for at its first look: (index among the audio streams, decoder name)."""
    return tuple((index, _DECODER_ALIASES.get(stream.codec_context.name, stream.codec_context.name))
                 for index, stream in enumerate(container.streams.audio)
                 if index and _known(stream) and stream.codec_context.sample_rate)


def subtitle_tracks(container: av.container.InputContainer) -> tuple[tuple[int, str, str], ...]:
    """Each subtitle track: (index among the subtitle streams, decoder name, language or "")."""
    return tuple((index, stream.codec_context.name, stream.metadata.get("language", ""))
                 for index, stream in enumerate(container.streams.subtitles) if _known(stream))


def unknown_tracks(container: av.container.InputContainer) -> tuple[str, ...]:
    """The audio and subtitle tracks FFmpeg cannot read (no codec it knows), as "audio stream 2 (fra)"."""
    return tuple(f"{stream.type} stream {stream.index}" + (f" ({stream.metadata['language']})"
                                                          if stream.metadata.get("language") else "")
                 for stream in (*container.streams.audio, *container.streams.subtitles) if not _known(stream))
