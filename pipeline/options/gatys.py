"""Gatys optimisation's options: iterations, weights, where it starts, scales, pools, backbone, snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import OptionError
from pipeline.options.choices import Backbone, Init, Method, Optimizer, Pooling, check_finite


@dataclass(frozen=True)
class GatysOptions:
    """Gatys et al. (2016) optimisation settings (``--method gatys``, keyframe refinement)."""

    iterations: int = 100
    optimizer: Optimizer = Optimizer.LBFGS
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.0
    range_weight: float = 1000.0  # pixels outside [0, 1]: the final clamp then costs no loss
    temporal_weight: float = 10.0
    lr: float = 0.02  # Adam step in [0, 1] pixel units
    init: Init = Init.CONTENT
    scales: int = 1  # coarse-to-fine levels, each twice the size of the last
    layer_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0)
    pooling: Pooling = Pooling.MAX
    backbone: Backbone = Backbone.VGG19
    backbone_weights: Path | None = None  # a torchvision resnet50 state dict (.pth/.pt or .safetensors)
    save_every: int = 0  # write the image being optimised every N iterations (0: never)
    snapshot_dir: Path | None = None  # where those snapshots go

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", Optimizer(self.optimizer))
        object.__setattr__(self, "init", Init(self.init))
        object.__setattr__(self, "pooling", Pooling(self.pooling))
        object.__setattr__(self, "backbone", Backbone(self.backbone))
        if self.iterations < 1 or self.scales < 1:
            raise OptionError(f"--iterations and --scales must be at least 1, got {self.iterations}, {self.scales}")
        for name in ("content_weight", "style_weight", "tv_weight", "range_weight", "temporal_weight", "lr"):
            check_finite(f"--{name.replace('_', '-')}", getattr(self, name), 0.0)
        self._check_backbone()
        self._check_snapshots()

    def _check_backbone(self) -> None:
        if self.backbone == Backbone.RESNET50 and self.backbone_weights is None:
            raise OptionError("--backbone resnet50 needs --backbone-weights PATH, a torchvision resnet50 state dict "
                              "you have: no registry package ships ResNet-50 weights, and nothing is downloaded")
        if self.backbone_weights is not None:
            if self.backbone != Backbone.RESNET50:
                raise OptionError("--backbone-weights is for --backbone resnet50 (VGG-19 weights: --vgg)")
            if not Path(self.backbone_weights).is_file():
                raise OptionError(f"--backbone-weights {self.backbone_weights}: no such file")

    def _check_snapshots(self) -> None:
        if self.save_every < 0:
            raise OptionError(f"--save-every must be 0 or more, got {self.save_every}")
        if self.save_every and self.snapshot_dir is None:
            raise OptionError("--save-every needs --snapshot-dir DIR, the folder the snapshots go to")
        if self.snapshot_dir is not None and not self.save_every:
            raise OptionError("--snapshot-dir needs --save-every N (how often to write a snapshot)")
        if self.snapshot_dir is not None:  # absolute, so Ray workers with another working folder agree
            object.__setattr__(self, "snapshot_dir", Path(self.snapshot_dir).absolute())
            if self.snapshot_dir.exists() and not self.snapshot_dir.is_dir():
                raise OptionError(f"--snapshot-dir {self.snapshot_dir}: a file, not a folder")


# What only the Gatys optimisation uses, with its default: given without a Gatys method, it is refused.
GATYS_ONLY = {"pooling": ("--pooling", Pooling.MAX), "backbone": ("--backbone", Backbone.VGG19),
              "backbone_weights": ("--backbone-weights", None), "save_every": ("--save-every", 0),
              "snapshot_dir": ("--snapshot-dir", None), "range_weight": ("--range-weight", GatysOptions.range_weight)}


def gatys_for(method: Method, **settings) -> GatysOptions | None:
    """None for plain AdaIN; otherwise the Gatys settings (``adain+gatys`` starts from the AdaIN result).
    A Gatys-only setting with plain AdaIN is an OptionError (the decoder is trained on VGG-19's features)."""
    if Method(method) == Method.ADAIN:
        for key, (option, default) in GATYS_ONLY.items():
            if settings.get(key, default) != default:
                raise OptionError(f"{option} is for the Gatys optimisation: use --method gatys or adain+gatys "
                                  "(stylize video: or --refine-every N); the AdaIN decoder is trained on VGG-19")
        return None
    if method == Method.ADAIN_GATYS:
        settings["init"] = Init.ADAIN
    return GatysOptions(**settings)


