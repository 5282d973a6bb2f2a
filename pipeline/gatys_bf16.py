"""bf16 features for the Gatys optimisation on a CPU with native bf16 kernels (AVX512-BF16, AMX), on request.

The image being optimised, the L-BFGS history and the losses (Gram matrices and their errors) stay in fp32;
only the network's forward and backward run on a copy of its weights cast to bf16 once. That is faster per
evaluation, but L-BFGS then ends a few % above fp32's final loss (docs/BENCHMARKS.md, "Gatys on the CPU"),
so ``--precision auto`` keeps fp32 for Gatys even where its probe runs the networks in bf16, and
``--precision bf16`` (or ``--cpu-backend bf16``) asks for it.
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


def cpu_features_dtype(cpu: Backend | None) -> torch.dtype:
    """The dtype of the Gatys features on the CPU: bf16 where bf16 was asked for (a backend named bf16 that
    no probe chose: ``--precision bf16``, ``--cpu-backend bf16``) and the CPU runs it natively; else fp32."""
    if cpu is None or cpu.measured or not cpu_has_fast_bf16():
        return torch.float32
    return torch.bfloat16 if cpu.name == "bf16" else torch.float32


@dataclass(frozen=True)
class Bf16Features(FeatureNet):
    """A ``FeatureNet`` whose features come from ``fast``, a copy of ``net`` with its weights cast to bf16
    once (channels_last, oneDNN's layout), returned in fp32. The targets (style Grams, content features) come
    from it too, so the optimisation matches bf16 features against their own kind."""

    fast: nn.Module | None = None

    def __call__(self, images: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        feats = self.fast(images.to(torch.bfloat16, memory_format=torch.channels_last), names)
        # fp32 and NCHW in one copy: the Gram matrices then read the rows of a contiguous view
        return [f.to(torch.float32, memory_format=torch.contiguous_format) for f in feats]


def bf16_features(net: FeatureNet) -> Bf16Features:
    """``net`` with a copy of its weights cast to bf16 for the features of the image being optimised."""
    fast = copy.deepcopy(net.net).to(torch.bfloat16, memory_format=torch.channels_last)
    return Bf16Features(net.net, net.layers, fast)
