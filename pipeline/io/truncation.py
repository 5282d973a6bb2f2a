"""Whether a video file was cut short (a copy or download that stopped, a recorder that lost power), read from
the container's own structure: what a file whose frames decode cleanly to where it ends says about whether
that is the end.

Each check reads only headers: an AVI's RIFF chunks, an MP4/MOV sample index (faststart files keep it before
the data, and it lists frames the file no longer holds; files without faststart keep it at the end, so cut
short they have none and cannot be read at all: ``lost_mp4_index`` says so), MPEG-TS packets (188 bytes; 192
in M2TS), the last pack of an MPEG program stream (its packets say how long they are), and a Matroska/WebM
header's duration. ``ending`` says from that how a decode ended: at the file's end, stopped part way with the
frames that decoded kept, or an error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av

from pipeline.errors import DecodingStopped, VideoError, reason
from pipeline.io.demux import packets
from pipeline.io.said import once

log = logging.getLogger(__name__)

_PS_TAIL = 1 << 18  # bytes read from the end of a program stream to find its last pack (packs are ~2 KiB)
_PACK, _SYSTEM, _END = 0xBA, 0xBB, 0xB9


def riff_short_by(path: Path, size: int) -> int:
    """Bytes an AVI's RIFF chunks (the first, and OpenDML's ``AVIX`` after it) say they hold past the end."""
    pos = 0
    with path.open("rb") as file:
        while pos + 8 <= size:
            file.seek(pos)
            tag, length = file.read(4), int.from_bytes(file.read(4), "little")
            if tag != b"RIFF":
                return 0
            if pos + 8 + length > size:
                return pos + 8 + length - size
            pos += 8 + length + length % 2  # chunks start at even offsets
    return 0


def _packet_length(data: bytes, at: int) -> int | None:
    """The length of the program stream pack header or packet at ``at`` as far as ``data`` tells it (at least
    the header's), or None when no packet starts there. An MPEG-2 pack header is 14 bytes and the stuffing its
    last byte counts, MPEG-1's 12; a system header or PES packet is 6 bytes and the length they give."""
    head = data[at:at + 14]
    if not head.startswith(b"\x00\x00\x01"[:len(head)]):
        return None
    if len(head) < 4:
        return 4
    code = head[3]
    if code == _END:
        return 4
    if code == _PACK:
        mpeg2 = len(head) > 4 and head[4] >> 6 == 1
        return 14 + (head[13] & 7 if len(head) == 14 else 0) if mpeg2 else 12
    if code < _SYSTEM:
        return None
    return 6 + int.from_bytes(head[4:6], "big") if len(head) >= 6 else 6


def ps_short_by(path: Path, size: int) -> int:
    """Bytes the last pack of an MPEG program stream says it holds past the end of the file: walked from its
    pack header, each system header and PES packet gives its length (0 when the file ends where a packet does,
    or the tail holds no pack header, or something else than a packet follows)."""
    with path.open("rb") as file:
        file.seek(max(0, size - _PS_TAIL))
        data = file.read()
    at = data.rfind(b"\x00\x00\x01\xba")
    while 0 <= at < len(data):
        length = _packet_length(data, at)
        if length is None or data[at + 3:at + 4] == bytes([_END]):
            return 0
        if at + length > len(data):
            return at + length - len(data)
        at += length
    return 0


def index_past_end(path: Path, size: int) -> tuple[int, int]:
    """(entries, of how many) of the file's sample index (every stream's) that lie past its end."""
    with av.open(str(path), metadata_errors="replace") as container:  # entries live as long as the container
        ends = [e.pos + e.size for s in container.streams for e in s.index_entries]
    return sum(1 for end in ends if end > size), len(ends)


def lost_mp4_index(path: Path) -> bool:
    """Whether ``path`` is an MP4/MOV (its first box ``ftyp``) cut short before the end of its ``moov`` box
    (the index): its top-level boxes run past the end of the file before a whole ``moov``."""
    size = path.stat().st_size
    pos = 0
    with path.open("rb") as file:
        while pos + 8 <= size:
            file.seek(pos)
            head = file.read(16)
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if pos == 0 and kind != b"ftyp":
                return False
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")  # a 64-bit size follows the type
            if kind == b"moov":
                return pos + length > size
            if length < 8:
                return length == 0  # 0: the box runs to the end of the file, which then holds no moov
            pos += length
    return pos > 0


def stream_ends(path: Path) -> tuple[float, int]:
    """Where the packets of every stream of ``path`` end, in seconds, and the byte the reader got to (read
    without decoding)."""
    end, reached = 0.0, 0
    with av.open(str(path), metadata_errors="replace") as container:
        for packet in packets(container, empty=True):  # a Theora frame held by an empty packet ends with it
            if packet.pts is not None and packet.time_base:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if packet.pos is not None and packet.pos >= 0:
                reached = max(reached, packet.pos + packet.size)
    return end, reached


_CLUSTER = bytes.fromhex("1F43B675")  # the EBML ID of a Matroska cluster, which holds the packets
_WINDOW = 1 << 24  # bytes read at a time looking for clusters that follow a stop
_BACK = 1 << 26  # bytes before a stop searched for the cluster being read: 5 s of 4K at 100 Mbit/s


def _cluster_end(data: bytes, start: int) -> int | None:
    """The end of the cluster whose ID is at ``start``: its size is an EBML number, its length told by the
    first byte's leading zeros; None for one of unknown size (all ones: a live stream's)."""
    first = data[start + 4] if start + 4 < len(data) else 0
    length = 9 - first.bit_length() if first else 0
    if not 1 <= length <= 8 or start + 4 + length > len(data):
        return None
    size = int.from_bytes(data[start + 4:start + 4 + length], "big") & ((1 << (7 * length)) - 1)
    return None if size == (1 << (7 * length)) - 1 else start + 4 + length + size


def _cluster_follows(file, at: int) -> bool:
    """Whether a cluster ID lies anywhere from byte ``at`` on, read ``_WINDOW`` at a time."""
    file.seek(at)
    tail = b""
    while piece := file.read(_WINDOW):
        if _CLUSTER in tail + piece:
            return True
        tail = piece[1 - len(_CLUSTER):]
    return False


def damaged_at(path: Path, reached: int) -> int | None:
    """Where a Matroska file whose reader stopped at byte ``reached`` is damaged: there, if the cluster it was
    reading says it goes on, or clusters follow that it never read (what follows the last cluster, the index
    and tags, is no sign of damage). Reads the ``_BACK`` bytes before the stop and what follows it in pieces,
    not the whole file (a film's MKV is gigabytes)."""
    start = max(0, reached - _BACK)
    with open(path, "rb") as file:
        file.seek(start)
        before = file.read(reached - start)
        last = before.rfind(_CLUSTER)
        end = _cluster_end(before + file.read(12), last) if last >= 0 else None  # its header may cross the stop
        if end is not None and reached + 16 < start + end <= path.stat().st_size:
            return reached
        return reached if _cluster_follows(file, reached) else None


def cut_short(path: Path, formats: set[str]) -> str | None:
    """Why the file at ``path`` (``formats``: its demuxer's names) looks cut short from its structure alone,
    or None: AVI chunks, an MP4/MOV index, MPEG-TS or program stream packets that end past the end."""
    size = path.stat().st_size
    if "avi" in formats and (short := riff_short_by(path, size)):
        return f"the file ends {short} bytes before its AVI chunks do"
    if formats & {"mov", "mp4"}:
        past, listed = index_past_end(path, size)
        if past:
            return f"{past} of the {listed} packets its index lists lie past the end of the file"
    if "mpegts" in formats and size % 188 and size % 192:
        return f"the file ends inside a transport packet ({size} bytes)"
    if "mpeg" in formats and (short := ps_short_by(path, size)):
        return f"the file ends {short} bytes before its last program stream packet does"
    return None


def ends_short(path: Path, formats: set[str], end_s: float, declared_s: float, rate: float) -> str | None:
    """Why a decode that ended cleanly at ``end_s`` stopped short of the file's end, or None: its structure
    says it was cut (``cut_short``), or it is Matroska/WebM and its streams all end before the duration
    (``declared_s``) its header gives; a frame period or two of slack, as streams end unevenly."""
    if why := cut_short(path, formats):
        return why
    slack = 2 / rate + 0.05
    if not formats & {"matroska", "webm"} or declared_s - end_s <= slack:
        return None
    streams_end, reached = stream_ends(path)
    if streams_end >= declared_s - slack:
        return None
    if (at := damaged_at(path, reached)) is not None:
        return (f"the file is damaged at byte {at} of {path.stat().st_size}: FFmpeg reads no packet past it, "
                f"before the {declared_s:.3f} s its header declares")
    return f"the file ends there, before the {declared_s:.3f} s its header declares"


def ending(info, progress, yielded: int, end_s: float | None, from_s: float | None,
           keep: bool) -> DecodingStopped | None:
    """How a decode of ``info`` (a ``VideoInfo``) that yielded ``yielded`` frames, up to ``end_s``, ended, given
    its ``progress`` (``decode._Progress``: the frames decoded, the error that stopped it or None at the end, the
    packets left out as damaged): None at the file's end (not looked into without ``keep``), or where every
    packet of the range was left out as damaged (said already); a DecodingStopped where it stopped part way with
    frames to ``keep``; or a VideoError. A run that starts mid-file (at ``from_s``) of a file cut before that
    yields nothing: it stopped there, for the run before it to have stopped earlier."""
    error, decoded = progress.error, progress.frames
    failure = None if error is None else reason(error)
    if failure is None and not yielded and progress.damaged:
        return None
    formats = set(info.format.split(","))
    cut = cut_short(info.path, formats) if failure is not None or not yielded else None
    if failure is not None:
        why = f"truncated: {cut}" if cut else f"truncated or corrupt: decoding failed after {decoded} frames ({failure})"
    elif not yielded:
        why = f"truncated: {cut}; no frame decodes before that" if cut else "no frames in the requested range"
    else:
        why = ends_short(info.path, formats, end_s, info.duration_s, float(info.rate)) if keep else None
        return DecodingStopped(why, end_s) if why else None
    if keep and yielded:
        return DecodingStopped(why, end_s)
    if keep and cut and from_s is not None:
        return DecodingStopped(f"truncated: {cut}", from_s)
    raise VideoError(why)


def say_damaged(info, damaged: list) -> None:
    """One warning for the video packets of ``info`` (a ``VideoInfo``) that were left out for not decoding
    (their times, seconds, in ``damaged``), once for each file and first time (lanes decode the frames before
    theirs again)."""
    if damaged:
        at = "" if damaged[0] is None else f", the first near {damaged[0] - info.origin_s:.3f} s"
        once(log, ("damaged", info.path, damaged[0]), "%s: %d damaged video packets did not decode%s; left out, "
             "the frame before each shows longer", info.path, len(damaged), at)
