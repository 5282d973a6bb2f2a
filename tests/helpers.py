"""Small builders shared by the tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.engines.local import run_videos_local
from pipeline.io.segments import SegmentSink
from pipeline.jobs.render import segment_sink
from pipeline.jobs.video import Media, VideoJob
from pipeline.report import Hooks, Summary

ROOT = Path(__file__).resolve().parents[1]
STYLE_PATH = ROOT / "samples" / "style" / "stained_glass.png"
# What tests mean by a plain stylizer: no calibration, no adaptation, fp32 on the CPU, so pixels do not
# depend on the machine's device or on the calibration photos.
PLAIN = {"calibrate": False, "precision": "fp32", "device": "cpu", "adapt": 0}


def gradient_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image with some noise, (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), 0.5 + 0.0 * xx], axis=2) * 200
    return (image + rng.uniform(0, 55, image.shape)).astype(np.uint8)


def save_rgb(path: Path, width: int, height: int, seed: int = 0, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient_image(width, height, seed)).save(path, **kwargs)
    return path


def run_cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def run_stylize(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    """``stylize`` as a user runs it: a process of its own (a signal must reach a real one)."""
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line a failed command printed (asserting there is exactly one, and no traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def make_stylizer(decoder_file: Path | None, style: Path | Sequence[Path] = STYLE_PATH, size: int = 256,
                  on_adapt_step=None, **style_options):
    """A ``Stylizer`` built as the CLI builds one (``build.build_stylizer``), with ``decoder_file`` (None: the
    shipped decoder), the style image(s) at long side ``size`` and, as ``--size`` does, the calibration and the
    CPU backend's probe at that size too; other ``StyleOptions`` fields override ``PLAIN``."""
    from pipeline.build import build_stylizer
    from pipeline.options import StyleOptions, calibration_size_for

    style_options.setdefault("calibration_size", calibration_size_for(size))

    styles = [style] if isinstance(style, (str, Path)) else list(style)
    return build_stylizer(StyleOptions(styles=styles, decoder=decoder_file, style_size=size,
                                       **{**PLAIN, **style_options}), on_adapt_step)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# Sources and sinks for the video pipeline: real ones, wrapped to record or to fail at a known frame.

class Recorder:
    """Sinks that write for real and keep every frame they were given, by index, and each sink's indices."""

    def __init__(self):
        self.frames, self.sinks = {}, []

    def __call__(self, plan, lane=None):
        recorder = self

        class Recording(SegmentSink):
            def write(self, index, pts, image):
                super().write(index, pts, image)
                if image is not None:
                    recorder.frames[index] = image.copy()
                    self.indices.append(index)

        sink = Recording(plan.workdir, plan.segment_format, zero_start=plan.video.start > 0)
        sink.indices = []
        self.sinks.append(sink)
        return sink

    def ordered(self):
        return [self.frames[k] for k in sorted(self.frames)]


def pausing_sink(at: int, wait, sink=segment_sink):
    """A real sink that calls ``wait()`` before it writes frame ``at``."""

    def make(plan, lane=None):
        inner = sink(plan, lane)
        write = inner.write

        def paused(index, pts, image):
            if index == at:
                wait()
            write(index, pts, image)

        inner.write = paused
        return inner

    return make


def failing_sink(at: int, exc: BaseException, name: str = "", before=lambda: None, sink=segment_sink):
    """A real sink that raises ``exc`` when given frame ``at`` of a video named ``name`` (after ``before()``)."""

    def make(plan, lane=None):
        inner = sink(plan, lane)
        write = inner.write

        def fail_at(index, pts, image):
            if index == at and plan.src.name.endswith(name):
                before()
                raise exc
            write(index, pts, image)

        inner.write = fail_at
        return inner

    return make


def run(stylizer, pairs, opts, media=Media(), on_units=lambda n: None, key=""):
    """The local engine on ``pairs`` as ``run_video_job`` runs it, with ``media`` swapped in."""
    job = VideoJob(opts, key, stylizer.device, media)
    summary = Summary("video", units="frames")
    plans = job.plan_all(pairs, summary)
    return run_videos_local(job, plans, stylizer, None, Hooks(on_units=on_units), summary)


class Identity:
    """A stylizer that hands each batch back as it came: a video run with it measures the pipeline around
    the networks alone (decoding, colour, sizes, encoding, timestamps)."""

    preserve_color = "none"

    def __init__(self) -> None:
        import torch

        self.device = torch.device("cpu")

    def __call__(self, batch):
        return batch


def folder_as_is(input_dir: Path, output_dir: Path, ext: str | None = None) -> Summary:
    """``stylize folder`` from ``input_dir`` into ``output_dir`` with ``Identity``, at each image's own size: what
    the run reads and writes around the networks."""
    from pipeline.jobs.folder import run_folder
    from pipeline.jobs.folder_plan import plan_folder
    from pipeline.options import FolderOptions, TemporalMode, TemporalOptions

    tasks, _ = plan_folder(input_dir, output_dir, ext)
    steady = TemporalOptions(TemporalMode.OFF)  # an animation's frames handed back as they are too
    return run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1, ext=ext, temporal=steady))
