"""What every stylizing command shares: the styles, the networks' settings, and creative control (masks,
keyframes, styles per scene)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import OptionError
from pipeline.options.choices import (CALIBRATION_SIZE, MIN_TILE, STYLE_SIZE, CpuBackend, Device, Precision, PreserveColor,
                                      check_finite)

if TYPE_CHECKING:
    from pipeline.control.keyframes import Schedule


@dataclass(frozen=True)
class ControlOptions:
    """Which style applies where and when (``pipeline/control/``): ``masks[k]`` for ``styles[k]`` (None: the
    style shares what the masks leave), a keyframe schedule, or one style per detected scene."""

    masks: tuple[Path | None, ...] = ()
    keyframes: Path | None = None
    style_per_scene: bool = False
    mask_feather: float | None = None  # seam blur radius in work pixels; None: control.masks.default_feather
    # The keyframe file as read, once, here (control/keyframes.py): it travels with the options to Ray workers.
    schedule: Schedule | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:  # absolute, so Ray workers with another working folder read the same files
        object.__setattr__(self, "masks", tuple(None if m is None else Path(m).absolute() for m in self.masks))
        if self.keyframes is not None:
            from pipeline.control.keyframes import load_schedule

            object.__setattr__(self, "keyframes", Path(self.keyframes).absolute())
            if self.schedule is None:
                object.__setattr__(self, "schedule", load_schedule(self.keyframes))
        if self.mask_feather is not None:
            check_finite("--mask-feather", self.mask_feather, 0.0)

    @property
    def active(self) -> bool:
        return any(m is not None for m in self.masks) or self.keyframes is not None or self.style_per_scene

    @property
    def masked(self) -> bool:
        return any(m is not None for m in self.masks)

    def key(self) -> str:
        """What outputs depend on, mask and keyframe files by path and modification time (--resume)."""
        def ident(p: Path | None) -> str | None:
            return None if p is None else f"{Path(p).resolve()}:{p.stat().st_mtime_ns}" if p.exists() else str(p)
        return repr(([ident(m) for m in self.masks], ident(self.keyframes), self.style_per_scene, self.mask_feather))


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
    control: ControlOptions = field(default_factory=ControlOptions)  # masks, keyframes, styles per scene
    cpu_backend: str = "auto"  # nnpack | onednn | bf16 | openvino | int8 on the CPU (backends.py); auto: probed
    memory_budget: float = 2.0  # GiB of peak memory a CPU run may take before frames go in tiles (tiling.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(Path(p) for p in self.styles))
        object.__setattr__(self, "preserve_color", PreserveColor(self.preserve_color))
        object.__setattr__(self, "device", Device(self.device))
        object.__setattr__(self, "precision", Precision(self.precision))
        if self.control.schedule is not None:
            if self.styles and self.styles != self.control.schedule.styles:  # equal: a dataclasses.replace
                raise OptionError("--keyframes replaces --style: the styles are named in the keyframe file")
            object.__setattr__(self, "styles", self.control.schedule.styles)
        if not self.styles:
            raise OptionError("at least one --style image is needed")
        check_finite("--alpha", self.alpha, 0.0, 1.0)
        if self.style_weights is not None:
            self._check_weights(list(self.style_weights))
        if self.feedback < 0 or (self.adapt or 0) < 0 or self.style_size < 0:
            raise OptionError("--feedback, --adapt and --style-size must be 0 or more")
        if self.adapt and self.preserve_color == PreserveColor.CORAL:
            raise OptionError("--adapt fits the decoder to the style's own colours: use --preserve-color "
                              "luminance, or --adapt 0 with coral")
        if self.cpu_backend not in set(CpuBackend):
            raise OptionError(f"--cpu-backend must be one of {', '.join(CpuBackend)}, got {self.cpu_backend!r}")
        object.__setattr__(self, "cpu_backend", CpuBackend(self.cpu_backend))
        if self.tile and self.tile < MIN_TILE:
            raise OptionError(f"--tile must be 0 or at least {MIN_TILE}, got {self.tile}")
        check_finite("--memory-budget", self.memory_budget, 0.25, 4096.0)
        if self.control.masked:
            self._check_masks()
        if self.control.keyframes is not None or self.control.style_per_scene:
            self._check_timeline()

    def _check_masks(self) -> None:
        """Masks: one slot per style; per-frame region targets take neither CORAL, feedback passes nor a
        decoder adapted to ONE style (so --adapt defaults to 0 with them)."""
        if len(self.control.masks) != len(self.styles):
            raise OptionError(f"{len(self.control.masks)} mask slots for {len(self.styles)} styles")
        self._refuse_one_target("--mask", "each region takes its own style's statistics per frame")
        unmasked = [w for w, m in zip(self.style_weights or [1.0] * len(self.styles), self.control.masks) if m is None]
        if unmasked and sum(unmasked) <= 0:
            raise OptionError("--style-weights of the styles without a --mask must not all be zero")

    def _refuse_one_target(self, option: str, why: str) -> None:
        """What per-frame targets cannot take (CORAL, feedback passes, a decoder adapted to ONE style), one line
        each naming ``option`` and ``why``; --adapt then defaults to 0."""
        for value, name in ((self.preserve_color == PreserveColor.CORAL, "--preserve-color coral"),
                            (self.feedback, "--feedback"), (self.adapt, "--adapt N>0")):
            if value:
                raise OptionError(f"{name} is not supported with {option}: {why} (coral and feedback recompute "
                                  "one target per image, --adapt fits the decoder to one style)")
        if self.adapt is None:
            object.__setattr__(self, "adapt", 0)

    def _check_timeline(self) -> None:
        """Keyframes or one style per scene: the weights are the schedule's (or one style at a time), and as
        with masks, per-frame targets take neither CORAL, feedback nor a decoder adapted to ONE style."""
        option = "--keyframes" if self.control.keyframes is not None else "--style-per-scene"
        if self.control.masked or (self.control.keyframes is not None and self.control.style_per_scene):
            raise OptionError("--mask, --keyframes and --style-per-scene do not combine yet: use one of them")
        if self.style_weights is not None:
            raise OptionError(f"--style-weights does not apply with {option}: "
                              + ("the keyframe file weighs the styles" if self.control.keyframes is not None
                                 else "each scene takes one style whole"))
        if self.control.style_per_scene and len(self.styles) < 2:
            raise OptionError("--style-per-scene needs several --style images: each scene takes the next one")
        self._refuse_one_target(option, "the style changes from frame to frame")
        if self.control.schedule is not None:  # keyframes without an alpha take --alpha
            object.__setattr__(self, "control", replace(self.control,
                                                        schedule=self.control.schedule.with_alpha(self.alpha)))

    def _check_weights(self, weights: list[float]) -> None:
        if len(weights) != len(self.styles):
            raise OptionError(f"{len(weights)} --style-weights given for {len(self.styles)} styles")
        for w in weights:
            check_finite("--style-weights", w, 0.0)
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
                     self.adapt or 0, self.calibration_size if self.adapt else 0)
                    + ((self.control.key(),) if self.control.active else ()))


