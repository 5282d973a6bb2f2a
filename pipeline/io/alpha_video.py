"""Transparency into video outputs: a source with alpha written to WebM becomes VP9 with alpha, to MOV
ProRes 4444 with alpha; other containers (MP4, MKV with H.264, AVI) hold none and drop it with one line.

Such a job writes its segments in lossless 4:4:4 H.264 (``encode.lossless_segments``), and its finish joins them with
the audio exactly as any job does (``pipeline/io/join.py``), into a work file; ``write_with_alpha`` then
decodes that file's frames, puts the source's alpha back at each frame's time (``pipeline/io/alpha.py``),
encodes them with the alpha codec and copies the audio packets as they are. So frame times, frame count and
audio are those the same job writes without alpha, and the only lossy step is the last.

Options that contradict (``--codec libx265`` into MOV, ``--pix-fmt yuv420p10le``) win: ``alpha_conflict``
names the option, and the job says in one line that the alpha is dropped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from pipeline.io.alpha import AlphaTrack
from pipeline.io.chapters import HOLD_CHAPTERS
from pipeline.io.color import output_colour, source_colour, tag_stream, to_rgb
from pipeline.io.encode import encoder_options, output_format
from pipeline.io.data_tracks import HOLD_DATA
from pipeline.io.tags import mp4_flags, source_tags
from pipeline.io.timecode import write_timecode
from pipeline.io.tracks import data_tracks, label
from pipeline.options import EncodeOptions

# The container -> the encoder and pixel format that keep alpha there. FFmpeg's libvpx-vp9 encodes the alpha
# plane as a second VP9 stream that WebM stores as BlockAdditional data (the track says ``alpha_mode=1``);
# prores_ks writes the alpha plane of ProRes 4444 (its profile "4444" with a yuva444p10le input).
ALPHA_CODECS = {"webm": ("libvpx-vp9", "yuva420p"), "mov": ("prores_ks", "yuva444p10le")}
_ALPHA_OPTIONS = {"prores_ks": {"profile": "4444", "vendor": "apl0"}}
# Where the joined frames wait for their alpha: Matroska holds what WebM will (its audio too) and H.264.
_WORK_MUXER = {"webm": "matroska", "mov": "mov"}
_DEFAULT = EncodeOptions()


def holds_alpha(output: Path) -> bool:
    return output_format(output) in ALPHA_CODECS


def alpha_conflict(opts: EncodeOptions, output: Path) -> str | None:
    """The option given that rules out the alpha codec of ``output``'s container (None: none does). The
    default codec and pixel format and the alpha codec's own are no conflict."""
    codec, pix_fmt = ALPHA_CODECS[output_format(output)]
    if opts.codec not in (_DEFAULT.codec, codec):
        return f"--codec {opts.codec}"
    if opts.pix_fmt not in (_DEFAULT.pix_fmt, pix_fmt):
        return f"--pix-fmt {opts.pix_fmt}"
    return None


def alpha_encoding(opts: EncodeOptions, output: Path) -> EncodeOptions:
    """The settings of the final encode into ``output`` (its container's alpha codec, the user's --crf)."""
    codec, pix_fmt = ALPHA_CODECS[output_format(output)]
    return replace(opts, codec=codec, pix_fmt=pix_fmt, threads=0)


def work_muxer(output: Path) -> str:
    return _WORK_MUXER[output_format(output)]


def _video_stream(out: av.container.OutputContainer, template, opts: EncodeOptions, rate, colour):
    stream = out.add_stream(opts.codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = template.width, template.height, opts.pix_fmt
    stream.time_base = stream.codec_context.time_base = template.time_base
    stream.options = {**encoder_options(opts), **_ALPHA_OPTIONS.get(opts.codec, {})}
    tag_stream(stream.codec_context, colour)
    return stream


def _rgba_frame(frame: av.VideoFrame, alpha: np.ndarray, pix_fmt: str, colour, deep: bool) -> av.VideoFrame:
    rgb = to_rgb(frame, source_colour(frame), deep=deep)
    if rgb.dtype == np.uint16:
        image = av.VideoFrame.from_ndarray(np.dstack([rgb, alpha.astype(np.uint16) * 257]), format="rgba64le")
    else:
        image = av.VideoFrame.from_ndarray(np.dstack([rgb, alpha]), format="rgba")
    out = image.reformat(format=pix_fmt, dst_colorspace=colour.sws_matrix, dst_color_range=colour.range)
    out.colorspace, out.color_range = colour.matrix, colour.range
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def _muxer_options(fmt: str, video, tags: dict[str, str]) -> dict[str, str]:
    if fmt == "mov":  # as pipeline/io/join.py writes MOV: the index first, times in the video's own scale
        return {"movflags": "+faststart" + mp4_flags(tags), "movie_timescale": str(video.time_base.denominator)}
    return {"avoid_negative_ts": "disabled"}  # as join.py: times before zero (AAC priming) kept


def write_with_alpha(joined: Path, info, output: Path, opts: EncodeOptions, offset_s: float = 0.0) -> None:
    """``joined``'s frames with the source's alpha (the frame shown at each one's time plus ``offset_s``, the
    --start it was cut at) encoded with ``opts`` into ``output`` (written in place: callers pass a temporary
    name), its audio and subtitle tracks' packets copied as they are, its chapters and tags kept."""
    fmt = output_format(output)
    with av.open(str(joined)) as inp:
        vin = inp.streams.video[0]
        tags = source_tags(inp)
        timecode = tags.pop("timecode", None)  # the work file's: already moved to its first frame
        with av.open(str(output), "w", format=fmt, options=_muxer_options(fmt, vin, tags)) as out:
            out.metadata.update(tags)
            if fmt in HOLD_CHAPTERS:
                out.set_chapters(inp.chapters())  # the work file's: already cut and moved
            colour = output_colour(info.colour, opts.pix_fmt, (vin.height, vin.width))
            vout = _video_stream(out, vin, opts, info.rate, colour)
            write_timecode(out, vout, fmt, timecode)
            data = [inp.streams.data[k] for k in data_tracks(inp)] if fmt in HOLD_DATA else []
            copied = [*inp.streams.audio, *inp.streams.subtitles, *data]
            aouts = {ain.index: out.add_stream_from_template(ain) for ain in copied}
            for ain in copied:
                label(aouts[ain.index], ain)
            deep = max(c.bits for c in av.VideoFormat(opts.pix_fmt).components) > 8
            track = AlphaTrack(info, (vin.height, vin.width))
            try:
                for packet in inp.demux(vin, *copied):
                    if packet.stream.index in aouts:
                        if packet.size:
                            packet.stream = aouts[packet.stream.index]
                            out.mux(packet)
                        continue
                    for frame in packet.decode():
                        alpha = track.at(float(frame.pts * vin.time_base) + offset_s)
                        out.mux(vout.encode(_rgba_frame(frame, alpha, opts.pix_fmt, colour, deep)))
                out.mux(vout.encode(None))
            finally:
                track.close()
