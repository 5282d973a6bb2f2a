"""ResNet-50 features for the Gatys losses (``--backbone resnet50``), from a torchvision state dict the user has.

The network is torchvision's own ``resnet50(weights=None)`` (imported here only: torchvision's import is slow),
without its classifier. Weights come from the file the user names, read without unpickling: ``torch.load`` with
``weights_only=True``, or safetensors. Nothing is downloaded: no registry package ships ResNet-50 weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.errors import WeightsError
from pipeline.models.vgg import POOLING

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet normalisation of RGB in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
# The modules in the order they run, by the names LayerChoice uses ("relu": the stem's ReLU, stride 2).
STAGES = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


class ResNetFeatures(nn.Module):
    """Frozen ResNet-50 that returns the named stage outputs, running nothing past the last one asked for."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from torchvision.models import resnet50
        except ImportError:
            raise WeightsError("--backbone resnet50 needs torchvision: pip install 'stylize-pipeline[resnet]' "
                               "(or pip install torchvision)") from None
        self.body = resnet50(weights=None)
        self.body.fc = nn.Identity()  # the classifier is not used (and its weights are not needed)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers: tuple[str, ...] = ("layer3",)) -> list[torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        x = (x - self.mean) / self.std
        last = max(STAGES.index(name) for name in layers)
        for name in STAGES[: last + 1]:
            x = getattr(self.body, name)(x)
            found[name] = x
        return [found[name] for name in layers]  # a layer may be asked for twice (layer3: style and content)

    def with_pooling(self, pooling: str) -> ResNetFeatures:
        """The stem's 3x3 max pool made ``POOLING[pooling]`` (same window and stride), in place."""
        kind = POOLING[pooling]
        if not isinstance(self.body.maxpool, kind):
            self.body.maxpool = kind(3, 2, 1)
        return self


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors in ``path``: safetensors by suffix, else ``torch.load(weights_only=True)``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("not a state dict (a mapping of names to tensors)")
    return state


def load_resnet50(path: str | Path) -> ResNetFeatures:
    """``ResNetFeatures`` with the torchvision ``resnet50`` state dict at ``path`` (``fc.*`` is ignored, a
    ``module.`` prefix from DataParallel taken off). WeightsError, one line naming the file, otherwise."""
    path = Path(path)
    net = ResNetFeatures()
    try:
        state = {k.removeprefix("module."): v for k, v in read_state(path).items()}
    except Exception as exc:  # noqa: BLE001 - whatever fails in reading the user's file is that file's fault
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise WeightsError(f"--backbone-weights {path}: cannot be read ({reason})") from None
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = net.body.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        first = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}" if unexpected else
                 f"{wrong[0]} is {tuple(state[wrong[0]].shape)}, not {tuple(expected[wrong[0]].shape)}")
        raise WeightsError(f"--backbone-weights {path}: not a torchvision resnet50 state dict ({len(missing)} "
                           f"missing, {len(unexpected)} unexpected, {len(wrong)} wrong-shaped tensors; e.g. {first})")
    net.body.load_state_dict(state)
    return net
