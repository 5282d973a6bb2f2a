"""What a file carries besides its tracks: the fonts its ASS subtitles are drawn with, and its cover pictures (an
MKV's attachments; an MP4's or an MKV's artwork, which FFmpeg lists as one-picture "attached pic" streams).

Kept where the output holds them: Matroska all of them as attachments (a cover as ``cover.jpg``, Matroska's
convention), MP4 its cover pictures as its own artwork. WebM takes no attachments and FFmpeg's MOV muxer drops
covers, so those outputs (and AVI) carry none; without its fonts an ASS track falls back to the player's.
"""

from __future__ import annotations

import av

PICTURE = av.stream.Disposition.attached_pic
_COVER = {"mjpeg": ("cover.jpg", "image/jpeg"), "png": ("cover.png", "image/png"), "webp": ("cover.webp", "image/webp"),
          "bmp": ("cover.bmp", "image/bmp"), "gif": ("cover.gif", "image/gif")}


def carry(source: av.container.InputContainer, out: av.container.OutputContainer, muxer: str) -> list[av.Packet]:
    """Give ``out`` (not started yet) what ``source`` (opened, not read yet) carries that a ``muxer`` output
    holds; returns the cover pictures' packets for the caller to mux (MP4), none for Matroska, whose
    attachments are in its header."""
    if muxer not in ("matroska", "mp4"):
        return []
    pictures = _pictures(source)
    if muxer == "mp4":
        return [_as_artwork(out, packet) for packet in pictures if packet.stream.codec_context.name in ("mjpeg", "png")]
    for s in source.streams.attachments:
        out.add_attachment(s.metadata.get("filename") or f"attachment{s.index}",
                           s.mimetype or "application/octet-stream", s.data)
    for packet in pictures:
        s = packet.stream
        name, mimetype = _COVER.get(s.codec_context.name, ("cover.bin", "application/octet-stream"))
        out.add_attachment(s.metadata.get("filename") or name, s.metadata.get("mimetype") or mimetype, bytes(packet))
    return []


def _pictures(source: av.container.InputContainer) -> list[av.Packet]:
    """The attached pictures' packets: FFmpeg queues them ahead of every other packet as it opens a file, so
    reading stops at the first packet of another stream, not at the end of a film."""
    found = []
    if any(s.disposition & PICTURE for s in source.streams.video):
        for packet in source.demux():
            if not packet.stream.disposition & PICTURE:
                break
            if packet.size:
                found.append(packet)
    return found


def _as_artwork(out: av.container.OutputContainer, packet: av.Packet) -> av.Packet:
    template = packet.stream
    packet.stream = out.add_stream_from_template(template)
    packet.stream.disposition = PICTURE
    return packet
