"""The staged video pipeline of one run of segments: source -> stylize -> sink, over frame records that keep
their index and timestamp.

The source (decoding) and the sink (encoding) each run in a thread; stylizing runs in the calling thread.
They hand records over through bounded ``Channel``s that either side can close, with an error or without:
whoever waits on a closed channel wakes at once, so a failure anywhere, or an interruption, stops every
stage without polling, and every thread is joined before ``render_run`` returns or raises.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pipeline.errors import Cancelled, DecodingStopped, VideoError
from pipeline.io.segments import SegmentSink, Tally, finished_segments
from pipeline.io.snapshots import snapshot_names, video_name
from pipeline.io.video import Frame, decode_frames
from pipeline.jobs.video_frames import FrameStage
from pipeline.jobs.video_plan import VideoPlan

_END = object()


class Closed(Exception):
    """Put into a channel that its reader closed."""


class Channel:
    """A bounded hand-over between two threads that either side may close: ``close()`` at the end of the
    items, ``close(error)`` to make the other side raise ``error`` at its next ``put`` or ``get``."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque = deque()
        self._maxsize = max(1, maxsize)
        self._cond = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None

    def put(self, item) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closed or len(self._items) < self._maxsize)
            if self._closed:
                raise Closed() from self._error
            self._items.append(item)
            self._cond.notify_all()

    def get(self):
        """The next item; ``_END`` once closed without error and empty; raises the error it was closed with."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed)
            if self._error is not None:
                raise self._error
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return _END

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            if not self._closed:
                self._closed, self._error = True, error
            self._cond.notify_all()

    def __iter__(self) -> Iterator:
        while (item := self.get()) is not _END:
            yield item


@dataclass
class Rendered:
    """What one run saw: the sink's tally of frames, where the time went, where its source stopped decoding
    part way (seconds, and why) when it did, and its segments in which no frame decoded (every packet damaged:
    nothing to write there, and nothing missing)."""

    tally: Tally = field(default_factory=Tally)
    decode_s: float = 0.0
    compute_s: float = 0.0
    stopped_at_s: float | None = None
    stopped_why: str = ""
    empty: tuple[int, ...] = ()


Source = Callable[[VideoPlan, "range | None"], Iterable[Frame]]
SinkFactory = Callable[[VideoPlan, "range | None"], SegmentSink]


class StageThread(threading.Thread):
    """Runs ``target()`` in a thread, keeping its result or what it raised for the caller.

    ``wait`` waits on an event the thread sets as it ends, then joins: Python 3.11's ``Thread.join``, when a
    signal interrupts it (Ctrl-C), marks the thread as ended while it still runs, so a later join would not
    wait and the process could exit under it (C++ aborts with "terminate called without an active exception").
    """

    def __init__(self, target: Callable[[], object], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._fn = target
        self.result = None
        self.error: BaseException | None = None
        self.ended = threading.Event()

    def run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.error = exc
        finally:
            self.ended.set()

    def wait(self) -> None:
        self.ended.wait()
        self.join()


def _feed(frames: Iterable[Frame], out: Channel, rendered: Rendered) -> None:
    """The source stage: frames into ``out``, then the end; an error closes ``out`` with it."""
    iterator = iter(frames)
    try:
        while True:
            t0 = time.perf_counter()
            frame = next(iterator, None)
            rendered.decode_s += time.perf_counter() - t0
            if frame is None:
                break
            out.put(frame)
        out.close()
    except DecodingStopped as stop:  # the frames before it are the run's: the end, noted
        rendered.stopped_at_s, rendered.stopped_why = stop.at_s, str(stop)
        out.close()
    except Closed:
        pass  # the reader stopped: its reason is raised there
    except BaseException as exc:
        out.close(exc)
    finally:
        getattr(iterator, "close", lambda: None)()


def _drain(records: Channel, sink: SegmentSink) -> Tally:
    """The sink stage: records into ``sink`` until the end; on any error the segment being written goes."""
    try:
        for index, pts, image in records:
            sink.write(index, pts, image)
        return sink.close()
    except BaseException as exc:
        sink.discard()
        records.close(exc)
        raise


def decode_source(plan: VideoPlan, run: range | None) -> Iterator[Frame]:
    """The frames a run needs, decoded: from the warm-up frames before its first segment (seeking there by
    the plan's timestamps) to the end of its last segment; the whole requested range for ``run`` None.
    Where the file stops decoding part way it ends with ``DecodingStopped`` after the frames that decoded, or
    with --strict fails with a VideoError (a damaged packet too, which is otherwise left out)."""
    video, seg_len = plan.video, plan.seg_len
    first = max(0, run.start * seg_len - plan.warmup) if run is not None else 0
    stop = run.stop * seg_len if run is not None else None
    timestamps = list(plan.timestamps) if run is not None and plan.timestamps is not None else None
    stops: list[DecodingStopped] = []
    frames = decode_frames(plan.info, video.start, video.duration, video.max_frames, first, timestamps, deep=True,
                           stops=stops, skip_damaged=not video.strict)
    try:
        for frame in frames:
            if stop is not None and frame.index >= stop:
                return
            yield frame
    finally:
        frames.close()
    if stops:
        if video.strict:
            raise VideoError(f"stopped decoding at {stops[0].at_s:.3f} s: {stops[0]} (--strict)")
        raise stops[0]


def segment_sink(plan: VideoPlan, run: range | None = None) -> SegmentSink:
    """The sink writing ``plan``'s segments (of ``run``) into its work folder; with --start, timestamps start
    at 0."""
    return SegmentSink(plan.workdir, plan.segment_format, zero_start=plan.video.start > 0)


class _Stylize:
    """The stylize stage of one run: batches of frames through ``stage``, records out to the sink. Batches
    never span two segments, so a resumed run stylizes exactly the same batches, and each segment starts
    from a state rebuilt from the frames before it."""

    def __init__(self, plan: VideoPlan, run: range | None, stage: FrameStage, records: Channel,
                 cancel: threading.Event | None, on_units: Callable[[int], None], rendered: Rendered) -> None:
        self.plan, self.run, self.stage, self.records = plan, run, stage, records
        self.cancel, self.on_units, self.rendered = cancel, on_units, rendered
        self.done = set(finished_segments(plan.workdir))
        self.recent: deque[Frame] = deque(maxlen=plan.warmup + plan.batch_size)
        self.segment, self.state = -1, None
        self.seen: set[int] = set()  # segments a frame came for

    def __call__(self, frames: Iterable[Frame]) -> None:
        pending: list[Frame] = []
        seg_len = self.plan.seg_len
        for frame in frames:
            self.recent.append(frame)
            segment = frame.index // seg_len
            if self.run is not None and segment not in self.run:
                continue  # a warm-up frame before the run's first segment
            self.seen.add(segment)
            if pending and (segment != pending[0].index // seg_len or segment in self.done):
                self._batch(pending)
                pending = []
            if segment in self.done:
                self.records.put((frame.index, frame.pts, None))
                self.on_units(1)
                continue
            pending.append(frame)
            if len(pending) == self.plan.batch_size:
                self._batch(pending)
                pending = []
        if pending:
            self._batch(pending)

    def _batch(self, batch: list[Frame]) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("stopped: another lane of this video failed or was interrupted")
        t0 = time.perf_counter()
        segment = batch[0].index // self.plan.seg_len
        if segment != self.segment:
            self.segment, first = segment, segment * self.plan.seg_len
            self.state = self.stage.warm_up([f for f in self.recent if f.index < first], self.plan.batch_size)
        with snapshot_names([video_name(self.plan.dst.stem, f.index) for f in batch]):  # --save-every
            images, self.state = self.stage.stylize(batch, self.state)
        self.rendered.compute_s += time.perf_counter() - t0
        for frame, image in zip(batch, images):
            self.records.put((frame.index, frame.pts, image))
        self.on_units(len(batch))


def render_run(plan: VideoPlan, run: range | None, stage: FrameStage, source: Source = decode_source,
               sink: SinkFactory = segment_sink, cancel: threading.Event | None = None,
               on_units: Callable[[int], None] = lambda n: None) -> Rendered:
    """Decode, stylize and encode one run of ``plan``'s segments (all of them for ``run`` None) into its work
    folder, skipping the segments already finished there. ``cancel`` set from outside stops it at the next
    batch (``Cancelled``). When it returns or raises, its threads have ended and no ``.part`` file is left."""
    rendered = Rendered()
    frames, records = Channel(2 * plan.batch_size), Channel(2 * plan.batch_size)
    writer = sink(plan, run)
    feeder = StageThread(lambda: _feed(source(plan, run), frames, rendered), "decode")
    drainer = StageThread(lambda: setattr(rendered, "tally", _drain(records, writer)), "encode")
    feeder.start()
    drainer.start()
    stylize = _Stylize(plan, run, stage, records, cancel, on_units, rendered)
    try:
        try:
            stylize(frames)
            records.close()
        except Closed:
            pass  # the sink failed: its error is raised below
    finally:
        frames.close(Cancelled("stopped"))
        records.close(Cancelled("stopped"))
        feeder.wait()
        drainer.wait()
    if drainer.error is not None:
        raise drainer.error
    count = plan.segment_count()
    if rendered.stopped_at_s is None and count is not None:  # ended where the plan does: the rest decoded nothing
        rendered.empty = tuple(k for k in (run if run is not None else range(count)) if k not in stylize.seen)
    return rendered
