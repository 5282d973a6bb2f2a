"""Every option of every job, checked once here: what reaches the jobs below is known to be valid.

Closed choices are ``StrEnum``s (Typer lists them in ``--help`` and refuses other values with exit 2);
ranges and cross-option rules are checked in ``__post_init__`` and raise ``OptionError``, one line naming
the option. Nothing below this module checks an option again. Importing it does not import torch, so
``stylize --help`` stays fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pipeline.errors import OptionError

STYLE_SIZE = 512  # the style's long side unless the work size says otherwise
CALIBRATION_SIZE = 512  # long side of the bundled calibration photos
TILE_OVERLAP = 48  # pixels each side a tile reaches into its neighbours (docs/BENCHMARKS.md, "Tiles")
MIN_TILE = 2 * TILE_OVERLAP + 32  # the smallest useful --tile


class Method(StrEnum):
    ADAIN = "adain"  # feed-forward
    GATYS = "gatys"  # optimisation from the content (or noise)
    ADAIN_GATYS = "adain+gatys"  # optimisation from the AdaIN result


class PreserveColor(StrEnum):
    NONE = "none"
    CORAL = "coral"  # recolour the style to the content
    LUMINANCE = "luminance"  # keep the content's colours, stylize the luminance


class TemporalMode(StrEnum):
    OFF = "off"
    STATS = "stats"  # smoothed AdaIN statistics
    WARP = "warp"  # flow-warped blend with the previous output
    FULL = "full"  # both


class Upscale(StrEnum):
    """How a result made at the work size is brought to the source size (--keep-size)."""

    GUIDED = "guided"  # edge-aware, guided by the full-size source (ops/upsample.py)
    RESIZE = "resize"  # plain bicubic resize


class Audio(StrEnum):
    AUTO = "auto"  # copy when the container takes it, else transcode
    COPY = "copy"
    AAC = "aac"
    NONE = "none"


class Engine(StrEnum):
    LOCAL = "local"
    RAY = "ray"


class Device(StrEnum):
    AUTO = "auto"  # CUDA when present, else the CPU
    CPU = "cpu"
    CUDA = "cuda"


class Precision(StrEnum):
    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class Optimizer(StrEnum):
    LBFGS = "lbfgs"
    ADAM = "adam"


class Init(StrEnum):
    CONTENT = "content"
    NOISE = "noise"
    ADAIN = "adain"


def _finite(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        bounds = f" in [{low}, {high}]" if high is not None else f" >= {low}" if low is not None else ""
        raise OptionError(f"{name} must be a finite number{bounds}, got {value}")


def style_size_for(work_size: int) -> int:
    """The style at the work size (0: the source's, then 512): the output is aimed at the style's statistics
    at that scale, so a 256 px run is not aimed at a 512 px style's finer ones (model card, "Calibration")."""
    return work_size or STYLE_SIZE


def calibration_size_for(work_size: int) -> int:
    """Calibrate at the work size (0: the source's, then the photos' own), since the miss depends on scale."""
    return min(work_size or CALIBRATION_SIZE, CALIBRATION_SIZE)


def parse_weights(text: str | None) -> list[float] | None:
    """``--style-weights 1,0.5`` as numbers; None when not given."""
    if not text:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise OptionError(f"--style-weights {text!r}: expected comma-separated numbers") from None


@dataclass(frozen=True)
class StyleOptions:
    """What every stylizing command shares (folder, video, the Python API)."""

    styles: Sequence[Path]
    style_weights: Sequence[float] | None = None
    alpha: float = 1.0
    preserve_color: PreserveColor = PreserveColor.NONE
    style_size: int = STYLE_SIZE
    device: Device = Device.AUTO
    precision: Precision = Precision.AUTO
    decoder: Path | None = None
    vgg: Path | None = None
    tile: int = 0  # process frames larger than this in tiles (0: only when out of memory, or by memory on the CPU)
    compile: bool = False  # torch.compile the networks (falls back to eager)
    calibrate: bool = True  # correct each style's statistics for the decoder's miss, once (calibration.py)
    calibration_size: int = CALIBRATION_SIZE  # long side of the calibration photos: the work size, at most 512
    feedback: int = 0  # passes correcting each image's own miss (one more encode and decode each)
    adapt: int | None = None  # decoder fine-tuning steps; None: the device's default (adaptation.default_steps)

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(Path(p) for p in self.styles))
        object.__setattr__(self, "preserve_color", PreserveColor(self.preserve_color))
        object.__setattr__(self, "device", Device(self.device))
        object.__setattr__(self, "precision", Precision(self.precision))
        if not self.styles:
            raise OptionError("at least one --style image is needed")
        _finite("--alpha", self.alpha, 0.0, 1.0)
        if self.style_weights is not None:
            self._check_weights(list(self.style_weights))
        if self.feedback < 0 or (self.adapt or 0) < 0 or self.style_size < 0:
            raise OptionError("--feedback, --adapt and --style-size must be 0 or more")
        if self.adapt and self.preserve_color == PreserveColor.CORAL:
            raise OptionError("--adapt fits the decoder to the style's own colours: use --preserve-color "
                              "luminance, or --adapt 0 with coral")
        if self.tile and self.tile < MIN_TILE:
            raise OptionError(f"--tile must be 0 or at least {MIN_TILE}, got {self.tile}")

    def _check_weights(self, weights: list[float]) -> None:
        if len(weights) != len(self.styles):
            raise OptionError(f"{len(weights)} --style-weights given for {len(self.styles)} styles")
        for w in weights:
            _finite("--style-weights", w, 0.0)
        if sum(weights) <= 0:
            raise OptionError("--style-weights must not all be zero")
        object.__setattr__(self, "style_weights", tuple(weights))

    def key(self) -> str:
        """Identifies what the output depends on, so --resume never mixes work made with other settings."""
        styles = [f"{p.resolve()}:{p.stat().st_mtime_ns}" if p.exists() else str(p) for p in self.styles]
        weights = None if self.style_weights is None else list(self.style_weights)
        calibration = self.calibration_size if self.calibrate else 0
        return repr((styles, weights, self.alpha, str(self.preserve_color), self.style_size,
                     str(self.decoder), str(self.vgg), str(self.precision), calibration, self.feedback,
                     self.adapt or 0, self.calibration_size if self.adapt else 0))


@dataclass(frozen=True)
class GatysOptions:
    """Gatys et al. (2016) optimisation settings (``--method gatys``, keyframe refinement)."""

    iterations: int = 100
    optimizer: Optimizer = Optimizer.LBFGS
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.0
    temporal_weight: float = 10.0
    lr: float = 0.02  # Adam step in [0, 1] pixel units
    init: Init = Init.CONTENT
    scales: int = 1  # coarse-to-fine levels, each twice the size of the last
    layer_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", Optimizer(self.optimizer))
        object.__setattr__(self, "init", Init(self.init))
        if self.iterations < 1 or self.scales < 1:
            raise OptionError(f"--iterations and --scales must be at least 1, got {self.iterations}, {self.scales}")
        for name in ("content_weight", "style_weight", "tv_weight", "temporal_weight", "lr"):
            _finite(f"--{name.replace('_', '-')}", getattr(self, name), 0.0)


def gatys_for(method: Method, **settings) -> GatysOptions | None:
    """None for plain AdaIN; otherwise the Gatys settings (``adain+gatys`` starts from the AdaIN result)."""
    if Method(method) == Method.ADAIN:
        return None
    if method == Method.ADAIN_GATYS:
        settings["init"] = Init.ADAIN
    return GatysOptions(**settings)


@dataclass(frozen=True)
class TemporalOptions:
    """Flicker reduction for video (temporal/stabilizer.py)."""

    mode: TemporalMode = TemporalMode.FULL
    strength: float = 0.5  # EMA momentum of the statistics and blend weight of the warped previous frame
    still_strength: float = 0.8  # blend weight where the content moves less than half a pixel a frame
    refine_every: int = 0  # Gatys refinement of every Nth frame (0 = none); scene cuts are keyframes too
    cut_threshold: float = 0.5  # histogram correlation below which two frames are a scene cut
    flow_size: int = 320  # long side at which optical flow is computed

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", TemporalMode(self.mode))
        _finite("--temporal-strength", self.strength, 0.0, 0.99)
        _finite("--temporal-still-strength", self.still_strength, 0.0, 0.99)
        if self.refine_every < 0:
            raise OptionError(f"--refine-every must be 0 or more, got {self.refine_every}")

    @property
    def stateful(self) -> bool:
        """Whether frames depend on the frames before them (and a segment needs warm-up frames)."""
        return self.mode != TemporalMode.OFF or self.refine_every > 0

    @property
    def warmup_frames(self) -> int:
        """Frames re-run before a segment so its state matches a run from the start: the moving average of
        the statistics forgets its reset as strength**n, so n is where that falls under 0.4 % (8 at 0.5)."""
        if not self.stateful:
            return 0
        if self.strength <= 0:
            return 1  # no memory in the statistics; the warp still needs the frame before
        return max(1, min(64, math.ceil(math.log(0.004) / math.log(self.strength) - 1e-9)))


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "upscale", Upscale(self.upscale))
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
    fps: float | None = None  # the rate of an image sequence input (None: 25)

    def __post_init__(self) -> None:
        object.__setattr__(self, "upscale", Upscale(self.upscale))
        if self.fps is not None and (not math.isfinite(self.fps) or self.fps <= 0):
            raise OptionError(f"--fps must be a positive number of frames a second, got {self.fps}")
        _finite("--start", self.start, 0.0)
        if self.duration is not None and (not math.isfinite(self.duration) or self.duration <= 0):
            raise OptionError(f"--duration must be a positive number of seconds, got {self.duration}")
        if self.max_frames is not None and self.max_frames < 1:
            raise OptionError(f"--max-frames must be at least 1, got {self.max_frames}")
        _finite("--segment-seconds", self.segment_seconds, 0.1)
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
        _finite("--max-upload-mb", self.max_upload_mb, 0.001)
        _finite("--keep-minutes", self.keep_minutes, 0.01)
        if not SERVE_SIZES[0] <= self.preview_size <= SERVE_SIZES[1]:
            raise OptionError(f"--preview-size must be in [{SERVE_SIZES[0]}, {SERVE_SIZES[1]}], got {self.preview_size}")
        if self.gallery is not None and not Path(self.gallery).is_dir():
            raise OptionError(f"--gallery {self.gallery} is not a folder")

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")
