"""The AdaIN decoder (Huang & Belongie 2017): a mirror of VGG-19 up to relu4_1.

It is an ``nn.Sequential`` with the reference layer order, so the official ``decoder.pth`` keys
(``1.weight``, ``5.weight``, ...) and our own safetensors files load without renaming.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from pipeline.io.images import atomic_write

# (in, out) channels of each 3x3 conv; "up" marks a 2x nearest upsampling before the next conv.
_PLAN = [(512, 256), "up", (256, 256), (256, 256), (256, 256), (256, 128), "up", (128, 128), (128, 64), "up",
         (64, 64), (64, 3)]
SHIPPED_WEIGHTS = "decoder.safetensors"


class Decoder(nn.Sequential):
    """relu4_1 features (512 channels) back to an RGB image in [0, 1] (no output clamp, as in the paper)."""

    def __init__(self) -> None:
        layers: list[nn.Module] = []
        convs = [p for p in _PLAN if p != "up"]
        for step in _PLAN:
            if step == "up":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(*step, kernel_size=3)]
            if step is not convs[-1]:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def shipped_weights_path() -> Path | None:
    """The decoder trained by this project and installed with the package, if present."""
    path = Path(str(resources.files("pipeline.weights").joinpath(SHIPPED_WEIGHTS)))
    return path if path.is_file() else None


def load_decoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a decoder state dict from safetensors or a reference ``decoder.pth`` (weights only)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("module."): v.float() for k, v in state.items()}


def decoder_metadata(path: str | Path | None) -> dict[str, str]:
    """What training wrote into a safetensors decoder (iterations, wall time, crop, ...); {} for other files."""
    if path is None or Path(path).suffix != ".safetensors":
        return {}
    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}


def load_decoder(path: str | Path | None) -> Decoder:
    """Decoder with weights from ``path`` (randomly initialised when ``path`` is None)."""
    if path is None:
        return Decoder().eval()
    with torch.device("meta"):  # no random weights made only to be overwritten: a start-up saves 0.1 s
        decoder = Decoder()
    decoder.load_state_dict(load_decoder_state(path), assign=True)  # the file's tensors, not copies
    return decoder.eval()


def save_decoder(decoder: nn.Module, path: str | Path, fp16: bool = True, metadata: dict | None = None) -> None:
    """Write the decoder as (fp16) safetensors, atomically, with the permissions any new file gets here
    (``atomic_write``: safetensors alone creates its file private, 0600)."""
    dtype = torch.float16 if fp16 else torch.float32
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in decoder.state_dict().items()}
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    atomic_write(Path(path), lambda tmp: save_file(state, str(tmp), metadata=meta))
