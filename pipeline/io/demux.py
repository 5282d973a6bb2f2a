"""A container's packets, read to the end of the file even where a stream starts part way, without the empty
packets a file holds.

An empty packet that carries a time is the file's own: Ogg Theora marks a frame that repeats the one before with
one. Handed to a decoder, an empty packet means "no more" (FFmpeg's end-of-stream), and the next packet fails:
left out, the frame before lasts until the next one. PyAV's own empty packets at the end (no time) drain the
decoders and are kept.

An MPEG-TS may add streams as it goes (a program that changes: HLS segments from two encoders saved one after
another, a broadcast recording across programmes). FFmpeg then lists a stream PyAV never heard of, and PyAV's
``demux`` raises IndexError as it flushes at the end: the whole batch ended in a traceback. The packets of
the streams asked for are all read before that; a stream that starts part way is not read, and said so once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av

from pipeline.io.said import once

log = logging.getLogger(__name__)


def packets(container: av.container.InputContainer, *streams, empty: bool = False) -> Iterator[av.Packet]:
    """``container.demux(*streams)`` (every stream when none is given), ended cleanly where PyAV meets a
    stream that started part way; with ``empty``, the file's empty packets too (what they cover counts)."""
    try:
        for packet in container.demux(*streams):
            if packet.size or packet.pts is None or empty:
                yield packet
    except IndexError:
        once(log, ("stream part way", container.name), "%s: a stream starts part way (the program changes); the "
             "streams found at the start are read, the new one is not", Path(container.name))
