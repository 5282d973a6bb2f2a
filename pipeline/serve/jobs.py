"""Video jobs in the background: a queue and one worker thread running ``stylize video``'s own job
(``pipeline.jobs.video.run_video_job``), so several tabs queue rather than render at once.

Progress comes from the job's hooks (the total frames once planned, then frames done). Cancelling a queued
job drops it; a running one stops at its next batch of frames: the progress hook raises ``Cancelled``,
which the video job lets through like an interruption (its threads end, no partial output is left).
Finished jobs and their files are removed ``keep_s`` seconds after they end (``sweep``).
"""

from __future__ import annotations

import logging
import queue
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.errors import Cancelled, StylizeError
from pipeline.options import StyleOptions, VideoOptions
from pipeline.serve.errors import ApiError

log = logging.getLogger(__name__)
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ENDED = {DONE, FAILED, CANCELLED}


@dataclass
class VideoJobSpec:
    """What one job renders: the clip, where, and the option dataclasses ``stylize video`` builds."""

    clip: Path
    style: StyleOptions
    video: VideoOptions
    preview: bool = False
    output: Path | None = None  # set by the queue: its own folder for the job


@dataclass
class Job:
    id: str
    spec: VideoJobSpec
    state: str = QUEUED
    total: int = 0
    done: int = 0
    error: str = ""
    created: float = field(default_factory=time.time)
    ended: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    counting: threading.Lock = field(default_factory=threading.Lock)  # lanes report frames from their threads

    def to_dict(self) -> dict:
        progress = min(1.0, self.done / self.total) if self.total else (1.0 if self.state == DONE else 0.0)
        state = "cancelling" if self.state == RUNNING and self.cancel.is_set() else self.state
        return {"id": self.id, "state": state, "frames_done": self.done, "frames_total": self.total,
                "progress": round(progress, 4), "error": self.error or None, "preview": self.spec.preview,
                "clip": self.spec.clip.stem, "result": f"/api/jobs/{self.id}/result" if self.state == DONE else None}


class JobQueue:
    """Jobs by id, run one at a time by a worker thread (started on the first job)."""

    def __init__(self, workdir: Path, keep_s: float = 3600.0) -> None:
        self.workdir, self.keep_s = workdir, keep_s
        self.jobs: dict[str, Job] = {}
        self.pending: queue.Queue[Job | None] = queue.Queue()
        self.lock = threading.Lock()
        self.worker: threading.Thread | None = None

    def submit(self, spec: VideoJobSpec) -> Job:
        job_id = secrets.token_hex(8)
        job = Job(job_id, replace(spec, output=self.workdir / job_id / "styled.mp4"))
        with self.lock:
            self.jobs[job.id] = job
            if self.worker is None:
                self.worker = threading.Thread(target=self._work, name="video jobs", daemon=True)
                self.worker.start()
        self.pending.put(job)
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id[:40]!r} (unknown, or removed after --keep-minutes)")
        return job

    def delete(self, job_id: str) -> Job:
        """Cancel a queued or running job, or remove an ended one with its files."""
        job = self.get(job_id)
        with self.lock:
            if job.state in ENDED:
                self._remove(job)
            else:
                job.cancel.set()
                if job.state == QUEUED:
                    self._end(job, CANCELLED)
        return job

    def busy_clips(self) -> set[Path]:
        return {j.spec.clip for j in list(self.jobs.values()) if j.state not in ENDED}

    def sweep(self) -> int:
        """Remove jobs that ended more than ``keep_s`` seconds ago, with their files; returns how many."""
        limit = time.time() - self.keep_s
        with self.lock:
            old = [j for j in self.jobs.values() if j.ended is not None and j.ended < limit]
            for job in old:
                self._remove(job)
        return len(old)

    def close(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.pending.put(None)
        if self.worker is not None:
            self.worker.join(timeout=30)

    def _remove(self, job: Job) -> None:
        self.jobs.pop(job.id, None)
        shutil.rmtree(job.spec.output.parent, ignore_errors=True)

    def _end(self, job: Job, state: str, error: str = "") -> None:
        job.state, job.error, job.ended = state, error, time.time()

    def _work(self) -> None:
        while (job := self.pending.get()) is not None:
            if job.cancel.is_set():
                continue
            job.state = RUNNING
            try:
                state, error = self._run(job)
            except Exception as exc:  # noqa: BLE001 - one failing job must not stop the queue
                log.exception("video job %s failed", job.id)
                state, error = FAILED, f"{type(exc).__name__}: {exc}"
            if state != DONE:
                shutil.rmtree(job.spec.output.parent, ignore_errors=True)
            with self.lock:
                self._end(job, state, error)

    def _run(self, job: Job) -> tuple[str, str]:
        from pipeline.jobs.video import run_video_job
        from pipeline.options import EngineOptions
        from pipeline.report import FAILED as ITEM_FAILED, Hooks

        def on_units(n: int) -> None:
            if job.cancel.is_set():
                raise Cancelled("cancelled from the web page")
            with job.counting:
                job.done += n

        hooks = Hooks(on_units=on_units, on_total=lambda n: setattr(job, "total", n))
        spec = job.spec
        spec.output.parent.mkdir(parents=True, exist_ok=True)
        try:
            summary = run_video_job(spec.clip, spec.output, spec.style, spec.video, None, EngineOptions(), hooks)
        except Cancelled:
            return (CANCELLED, "") if job.cancel.is_set() else (FAILED, "stopped")
        except StylizeError as exc:
            return FAILED, str(exc).replace(str(spec.clip), "the clip")
        failed = [r.reason for r in summary.results if r.status == ITEM_FAILED]
        if failed or not spec.output.is_file():
            return FAILED, (failed[0] if failed else "no output was written").replace(str(spec.clip), "the clip")
        return DONE, ""
