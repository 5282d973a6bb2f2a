"""The jobs' own options: temporal consistency, encoding, folders, videos, engines and the web app."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import OptionError
from pipeline.options.choices import (Audio, Device, Engine, FlowBackend, TemporalMode, Upscale, check_finite,
                                      check_sheet)


@dataclass(frozen=True)
class TemporalOptions:
    """Flicker reduction for video (temporal/stabilizer.py)."""

    mode: TemporalMode = TemporalMode.FULL
    strength: float = 0.5  # EMA momentum of the statistics; the warped previous frame is renewed every 12x frames
    still_strength: float = 0.8  # the same renewal where the content moves under 0.75 px a frame (faded in)
    refine_every: int = 0  # Gatys refinement of every Nth frame (0 = none); scene cuts are keyframes too
    cut_threshold: float = 0.5  # histogram correlation below which two frames are a scene cut
    flow_size: int = 320  # long side at which optical flow is computed
    flow: FlowBackend = FlowBackend.AUTO  # --flow: which optical flow and scene-cut backend

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", TemporalMode(self.mode))
        object.__setattr__(self, "flow", FlowBackend(self.flow))
        check_finite("--temporal-strength", self.strength, 0.0, 0.99)
        check_finite("--temporal-still-strength", self.still_strength, 0.0, 0.99)
        if self.refine_every < 0:
            raise OptionError(f"--refine-every must be 0 or more, got {self.refine_every}")

    @property
    def stateful(self) -> bool:
        """Whether frames depend on the frames before them (and a segment needs warm-up frames)."""
        return self.mode != TemporalMode.OFF or self.refine_every > 0

    @property
    def warmup_frames(self) -> int:
        """Frames re-run before a segment so its state matches a run from the start: the moving average of
        the statistics forgets its reset as strength**n, so n is where that falls under 0.4 % (8 at 0.5), and
        the warp blend's ages restart once a still period and renew every pixel within one more (20 at
        still_strength 0.8)."""
        if not self.stateful:
            return 0
        if self.strength <= 0:
            return max(1, 2 * math.ceil(self.carry_period(still=True)))  # the warp still needs the frames before
        ema = math.ceil(math.log(0.004) / math.log(self.strength) - 1e-9)
        return max(1, min(64, max(ema, 2 * math.ceil(self.carry_period(still=True)))))

    def carry_period(self, still: bool) -> float:
        """Frames between two renewals of the warped previous output by the fresh one (temporal/stabilizer.py):
        12 x the strength, whole (6 at 0.5), with ``still_strength`` where the content stands still (10 at
        0.8). A period renews every pixel once and the ages restart from a fixed pattern once a still period,
        so a warm-up of two still periods gives a segment the state a run from the start has."""
        return round(12 * (self.still_strength if still else self.strength))


@dataclass(frozen=True)
class EncodeOptions:
    """How segments are encoded (io/video.py ``encoder_options`` gives each codec its own terms)."""

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    audio: Audio = Audio.AUTO
    threads: int = 0  # 0 = encoder's choice
    lookahead: int = 20  # x264's rc-lookahead in frames (docs/BENCHMARKS.md, "Encoder")
    b_frames: bool = True  # False where the container cannot reorder frames (AVI: io/encode.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "audio", Audio(self.audio))
        if not 0 <= self.crf <= 63:
            raise OptionError(f"--crf must be in [0, 63], got {self.crf}")


@dataclass(frozen=True)
class FolderOptions:
    size: int = 512  # long side of the work resolution; 0 = source size
    keep_size: bool = False  # write at the source resolution
    batch_size: int = 0  # 0: auto (1 on the CPU, as many as fit on CUDA)
    ext: str | None = None  # output extension, e.g. ".png"; None keeps each input's
    skip_existing: bool = False
    readers: int = 2
    upscale: Upscale = Upscale.GUIDED  # with keep_size: how the result is brought to the source size
    contact_sheet: Path | None = None  # one overview image of sources and results, made after the job
    temporal: TemporalOptions = field(default_factory=TemporalOptions)  # an animation's frames, as a video's

    def __post_init__(self) -> None:
        object.__setattr__(self, "upscale", Upscale(self.upscale))
        check_sheet(self.contact_sheet)
        if self.ext is not None:
            object.__setattr__(self, "ext", ("." + self.ext.lstrip(".")).lower())
        if self.size < 0 or self.batch_size < 0:
            raise OptionError("--size and --batch-size must be 0 or more")


@dataclass(frozen=True)
class VideoOptions:
    size: int = 512
    keep_size: bool = False
    batch_size: int = 0  # 0: auto, once the video is probed
    start: float = 0.0
    duration: float | None = None
    max_frames: int | None = None
    resume: bool = False
    segment_seconds: float = 10.0
    parallel: int = 0  # lanes rendering runs of segments side by side (0: auto, per video)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    temporal: TemporalOptions = field(default_factory=TemporalOptions)
    upscale: Upscale = Upscale.GUIDED  # with keep_size: how the result is brought to the source size
    strict: bool = False  # a file that stops decoding part way fails, instead of keeping what decoded
    fps: float | None = None  # the rate of an image sequence (None: 25) or a raw stream (None: its headers')
    contact_sheet: Path | None = None  # one overview image of frames sampled from each result, made after the job
    deinterlace: bool = True  # frames the source flags interlaced are deinterlaced (pipeline/io/deinterlace.py)
    skip_existing: bool = False  # a video whose output is already in place and decodes is left alone

    def __post_init__(self) -> None:
        object.__setattr__(self, "upscale", Upscale(self.upscale))
        if self.upscale == Upscale.DECODE:  # the temporal step blends frames at the work size
            raise OptionError("--upscale decode is for photos (stylize folder); for video use guided or resize")
        check_sheet(self.contact_sheet)
        if self.fps is not None and (not math.isfinite(self.fps) or self.fps <= 0):
            raise OptionError(f"--fps must be a positive number of frames a second, got {self.fps}")
        check_finite("--start", self.start, 0.0)
        if self.duration is not None and (not math.isfinite(self.duration) or self.duration <= 0):
            raise OptionError(f"--duration must be a positive number of seconds, got {self.duration}")
        if self.max_frames is not None and self.max_frames < 1:
            raise OptionError(f"--max-frames must be at least 1, got {self.max_frames}")
        check_finite("--segment-seconds", self.segment_seconds, 0.1)
        if self.size < 0 or self.batch_size < 0 or self.parallel < 0:
            raise OptionError("--size, --batch-size and --parallel must be 0 or more")

    @property
    def whole(self) -> bool:
        """The whole video, not a range of it."""
        return self.start == 0 and self.duration is None and self.max_frames is None


@dataclass(frozen=True)
class EngineOptions:
    """Where the work runs: here, or on a Ray cluster."""

    engine: Engine = Engine.LOCAL
    ray_address: str | None = None
    workers: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", Engine(self.engine))
        if self.workers < 1:
            raise OptionError(f"--workers must be at least 1, got {self.workers}")
        if self.ray_address is not None and not _RAY_ADDRESS.fullmatch(self.ray_address):
            raise OptionError(f"--ray-address must be 'auto', HOST:PORT or ray://HOST:PORT, got {self.ray_address!r}")
        if self.ray_address is not None and self.engine != Engine.RAY:
            raise OptionError("--ray-address needs --engine ray")


# What Ray's own ``ray.init(address=...)`` takes for an existing cluster: "auto" (the cluster this machine
# joined), the GCS address HOST:PORT, or a Ray Client address ray://HOST:PORT.
_RAY_ADDRESS = re.compile(r"auto|(ray://)?(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):\d{1,5}")


SERVE_SIZES = (64, 2048)  # work sizes a web request may ask for (a larger one is a long wait on a CPU)


@dataclass(frozen=True)
class ServeOptions:
    """``stylize serve``: where it listens, the device, and what a request may bring and leave behind."""

    host: str = "127.0.0.1"
    port: int = 8000
    device: Device = Device.AUTO
    max_upload_mb: float = 300.0  # request body limit (clips are the large ones)
    keep_minutes: float = 60.0  # uploads and ended jobs are removed this long after
    preview_size: int = 384  # the page's default work size while trying settings
    gallery: Path | None = None  # folder with style/ and content/ (None: the source tree's samples/)

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", Device(self.device))
        if not 1 <= self.port <= 65535:
            raise OptionError(f"--port must be in [1, 65535], got {self.port}")
        check_finite("--max-upload-mb", self.max_upload_mb, 0.001)
        check_finite("--keep-minutes", self.keep_minutes, 0.01)
        if not SERVE_SIZES[0] <= self.preview_size <= SERVE_SIZES[1]:
            raise OptionError(f"--preview-size must be in [{SERVE_SIZES[0]}, {SERVE_SIZES[1]}], got {self.preview_size}")
        if self.gallery is not None and not Path(self.gallery).is_dir():
            raise OptionError(f"--gallery {self.gallery} is not a folder")

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
