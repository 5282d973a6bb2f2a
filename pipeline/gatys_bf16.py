"""bf16 features for the Gatys optimisation on a CPU with native bf16 kernels (AVX512-BF16, AMX).

The image being optimised, the L-BFGS history, the losses and the style targets stay in fp32; the network's
forward and backward run on a copy of its weights cast to bf16 once, and the Gram products take its bf16
features. An evaluation then costs about half of fp32's, and with the range penalty (``GatysLoss``) the
final loss ends within 1.2 % of fp32's on the pairs measured (docs/BENCHMARKS.md, "Gatys on the CPU"), so
Gatys takes bf16 features wherever the run's networks are bf16 or lower on such a CPU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from pipeline.device import cpu_has_fast_bf16
from pipeline.models.backbones import FeatureNet

if TYPE_CHECKING:
    from pipeline.backends import Backend

# Backends whose networks run in bf16 (or int8, around bf16) on a CPU with native bf16: OpenVINO's default
# inference precision there is bf16. nnpack and onednn are fp32.
BF16_BACKENDS = ("bf16", "openvino", "int8")


def cpu_features_dtype(cpu: Backend | None) -> torch.dtype:
    """The dtype of the Gatys features on the CPU: bf16 where the CPU runs it natively and the run's backend
    is one of ``BF16_BACKENDS``, asked for (``--precision bf16``, ``--cpu-backend``) or the probe's choice,
    so timed faster than fp32 on this CPU; fp32 otherwise (``--precision fp32``, emulated bf16, CUDA)."""
    if cpu is None or not cpu_has_fast_bf16():
        return torch.float32
    return torch.bfloat16 if cpu.name in BF16_BACKENDS else torch.float32


@dataclass(frozen=True)
class Bf16Features(FeatureNet):
    """A ``FeatureNet`` whose features come from ``fast``, a copy of ``net`` with its weights cast to bf16
    once, its features returned in bf16 and in its layout (channels_last, oneDNN's; ``gram_matrix`` reads
    them in place). The targets (style Grams, content features) come from it too, in fp32, so the
    optimisation matches bf16 features against their own kind."""

    fast: nn.Module | None = None

    def __call__(self, images: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        return self.fast(images.to(torch.bfloat16, memory_format=torch.channels_last), names)


def bf16_features(net: FeatureNet) -> Bf16Features:
    """``net`` with a copy of its weights cast to bf16 for the features of the image being optimised."""
    fast = copy.deepcopy(net.net).to(torch.bfloat16, memory_format=torch.channels_last)
    return Bf16Features(net.net, net.layers, fast)
