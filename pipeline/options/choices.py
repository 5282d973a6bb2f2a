"""The closed choices (enums), the sizes they default to, and the small checks every option class uses."""

from __future__ import annotations

import math
import os
from enum import StrEnum
from pathlib import Path

from pipeline.errors import OptionError
from pipeline.io.walk import nearest_existing

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


class FlowBackend(StrEnum):
    """Where the temporal steps' optical flow and scene cuts are computed (temporal/flow.py)."""

    AUTO = "auto"  # torch on CUDA, OpenCV on the CPU
    OPENCV = "opencv"  # OpenCV DIS on host-side cues
    TORCH = "torch"  # pipeline/ops/flow.py on the frames' device


class Upscale(StrEnum):
    """How a result made at the work size is brought to the source size (--keep-size)."""

    GUIDED = "guided"  # edge-aware, guided by the full-size source (ops/upsample.py)
    RESIZE = "resize"  # plain bicubic resize
    DECODE = "decode"  # photos: the decoder run at the source size, plus guided edges (pipeline/upscale.py)


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
    INT8 = "int8"  # the CPU's quantized networks (models/int8.py); fp32 elsewhere


class CpuBackend(StrEnum):
    """Which kernels run the networks on the CPU (``backends.py``); auto: by ``--precision`` and a probe."""

    AUTO = "auto"
    NNPACK = "nnpack"
    ONEDNN = "onednn"
    BF16 = "bf16"
    OPENVINO = "openvino"
    INT8 = "int8"


class Optimizer(StrEnum):
    LBFGS = "lbfgs"
    ADAM = "adam"


class Init(StrEnum):
    CONTENT = "content"
    NOISE = "noise"
    ADAIN = "adain"
    STYLE = "style"  # the (heaviest) style image, resized to the content


class Pooling(StrEnum):
    """The pools of the network the Gatys losses see; Gatys et al. (2016) average for smoother gradients."""

    MAX = "max"
    AVG = "avg"


class Backbone(StrEnum):
    """The network whose features the Gatys losses compare (pipeline/models/backbones.py)."""

    VGG19 = "vgg19"
    RESNET50 = "resnet50"  # needs --backbone-weights: a torchvision resnet50 state dict


SHEET_SUFFIXES = (".png", ".jpg", ".jpeg")  # what --contact-sheet writes (the format follows the suffix)


def check_sheet(path: Path | None) -> None:
    """A contact sheet's path that can be written, checked before the job (the sheet is made after it)."""
    if path is None:
        return
    if Path(path).suffix.lower() not in SHEET_SUFFIXES:
        raise OptionError(f"--contact-sheet {path}: the suffix must be .png, .jpg or .jpeg")
    if Path(path).is_dir():
        raise OptionError(f"--contact-sheet {path}: a folder")
    folder = nearest_existing(Path(path).absolute().parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise OptionError(f"--contact-sheet {path}: {folder} is not a folder that can be written")


def check_finite(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
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


