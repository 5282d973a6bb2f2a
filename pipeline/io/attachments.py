"""What a file carries besides its tracks: the fonts its ASS subtitles are drawn with, and its cover pictures (an
MKV's attachments; an MP4's or an MKV's artwork, which FFmpeg lists as one-picture "attached pic" streams).

Kept where the output holds them: Matroska all of them as attachments (a cover as ``cover.jpg``, Matroska's
convention), MP4 its cover pictures as its own artwork. WebM takes no attachments and FFmpeg's MOV muxer drops
covers, so those outputs (and AVI) carry none; without its fonts an ASS track falls back to the player's.
"""

from __future__ import annotations

from pathlib import Path

import av

from pipeline.io.tracks import open_input

PICTURE = av.stream.Disposition.attached_pic
_COVER = {"mjpeg": ("cover.jpg", "image/jpeg"), "png": ("cover.png", "image/png"), "webp": ("cover.webp", "image/webp"),
          "bmp": ("cover.bmp", "image/bmp"), "gif": ("cover.gif", "image/gif")}


def carry(source: Path, out: av.container.OutputContainer, muxer: str) -> list[av.Packet]:
    """Give ``out`` (not started yet) what ``source`` carries that a ``muxer`` output holds; returns the cover
    pictures' packets for the caller to mux (MP4), none for Matroska, whose attachments are in its header."""
    if muxer not in ("matroska", "mp4"):
        return []
    try:
        return _carry(source, out, muxer)
    except (av.error.FFmpegError, OSError, ValueError):  # read once already: the pictures are what count
        return []


def _carry(source: Path, out: av.container.OutputContainer, muxer: str) -> list[av.Packet]:
    with open_input(source) as container:
        pictures = [(s, _picture(container, s)) for s in container.streams.video if s.disposition & PICTURE]
        pictures = [(s, packet) for s, packet in pictures if packet is not None]
        if muxer == "mp4":
            return [_as_artwork(out, s, packet) for s, packet in pictures if s.codec_context.name in ("mjpeg", "png")]
        for s in container.streams.attachments:
            out.add_attachment(s.metadata.get("filename") or f"attachment{s.index}",
                               s.mimetype or "application/octet-stream", s.data)
        for s, packet in pictures:
            name, mimetype = _COVER.get(s.codec_context.name, ("cover.bin", "application/octet-stream"))
            out.add_attachment(s.metadata.get("filename") or name, s.metadata.get("mimetype") or mimetype,
                               bytes(packet))
    return []


def _picture(container: av.container.InputContainer, stream) -> av.Packet | None:
    """An attached picture stream's one packet (FFmpeg hands it on first)."""
    try:
        return next((packet for packet in container.demux(stream) if packet.size), None)
    except av.error.FFmpegError:
        return None
    finally:
        container.seek(0)


def _as_artwork(out: av.container.OutputContainer, stream, packet: av.Packet) -> av.Packet:
    packet.stream = out.add_stream_from_template(stream)
    packet.stream.disposition = PICTURE
    return packet
