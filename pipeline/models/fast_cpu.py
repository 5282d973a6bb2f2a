"""Faster layers for no-grad fp32 inference on the CPU, swapped into a model in place.

On CPUs without native bf16 (AVX2 only) oneDNN's direct fp32 convolution is the bound: the encoder and
decoder run near the cores' peak FLOP rate. Winograd F(6x6, 3x3) needs several times fewer multiplications,
and NNPACK, built into PyTorch's CPU wheels, runs VGG's 3x3 layers faster at a relative error near 1e-5, far
below what an 8-bit output can show. What NNPACK does not cover (gradients, other dtypes or devices, 1x1
kernels) or does badly (very large inputs) stays on oneDNN. Layers with three channels on one side (the
encoder's first, the decoder's last) are too thin for either: they become one matrix product each. NNPACK
wants NCHW, where PyTorch's 2x2 max pooling is slow, so that becomes the maximum of four strided views.
The speeds behind these choices: docs/BENCHMARKS.md, "CPU fast layers".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Above this many pixels per channel NNPACK loses to oneDNN (docs/BENCHMARKS.md, "CPU fast layers").
MAX_PIXELS = 1280 * 720
# NNPACK keeps transform buffers several times its input alive for the process, so large inputs go
# through in horizontal strips of at most this many input values; strips cost speed, so 512x512 still
# goes through whole (docs/BENCHMARKS.md, "CPU fast layers").
STRIP_VALUES = 2**25
# At most this many channels on one side makes a convolution "thin" (see _thin).
THIN_CHANNELS = 4


def _nnpack_conv():
    """PyTorch's NNPACK convolution, or None. It is a private op (``torch._nnpack_spatial_convolution``) that a
    release may rename or drop, so it is looked up where it is used, never imported; without it the layers
    are the stock ``F.conv2d`` (the public fallback; tests/test_fast_cpu.py forces it)."""
    return getattr(torch, "_nnpack_spatial_convolution", None)


def nnpack_available() -> bool:
    """NNPACK is compiled into the x86-64 and arm64 CPU builds of PyTorch, but not into every build, and its
    op is private (``_nnpack_conv``). The check also initialises NNPACK, without which every NNPACK
    convolution fails."""
    return _nnpack_conv() is not None and torch.backends.nnpack.is_available()


class FastConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose CPU forward (no-grad fp32) runs on NNPACK where that is faster, as one matrix
    product where a side has few channels, and otherwise on oneDNN's channels_last kernel: its NCHW kernel
    is slower and rounds differently with the thread count, and Ray workers (one thread each) must write
    exactly what the local engine writes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        if torch.is_grad_enabled() or x.dtype != torch.float32 or self.weight.dtype != torch.float32 or \
                not self.winograd or (not self.thin and x.shape[-2] * x.shape[-1] > MAX_PIXELS):
            return super().forward(x.contiguous(memory_format=torch.channels_last))
        ph, pw = self.padding
        if self.padding_mode != "zeros":
            x, ph, pw = F.pad(x, (pw, pw, ph, ph), mode=self.padding_mode), 0, 0
        # One image at a time: NNPACK's batched algorithm rounds differently from its single-image one,
        # and a frame must not change with the batch it happens to be in (segments, resumed runs).
        if len(x) == 1:
            return self._in_strips(x, ph, pw)
        return torch.cat([self._in_strips(x[i:i + 1], ph, pw) for i in range(len(x))])

    def _in_strips(self, x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
        """One image through the fast kernel, in horizontal strips where its buffers would be large."""
        kernel = self._thin if self.thin else self._nnpack
        # NNPACK's buffers grow with the input; the thin product's with nine shifted copies of the thin side.
        work = 9 * min(self.in_channels, self.out_channels) * x[0, 0].numel() if self.thin else x.numel()
        strips = -(-work * (x.shape[-2] + 2 * ph) // (x.shape[-2] * STRIP_VALUES))
        if strips == 1:
            return kernel(x.contiguous(), [ph, pw])
        x = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
        out = x.new_empty(1, self.out_channels, x.shape[-2] - 2, x.shape[-1] - 2)
        rows = -(-out.shape[-2] // strips)  # equal strips: a thin last one would run slowly
        for top in range(0, out.shape[-2], rows):
            out[..., top:top + rows, :] = kernel(x[..., top:top + rows + 2, :].contiguous(), [0, 0])
        return out

    @property
    def winograd(self) -> bool:
        """NNPACK (and the thin product) cover 3x3, stride 1, undilated, ungrouped convolutions."""
        return self.kernel_size == (3, 3) and self.stride == (1, 1) and self.dilation == (1, 1) and \
            self.groups == 1 and not isinstance(self.padding, str)

    def _nnpack(self, x: torch.Tensor, padding: list[int]) -> torch.Tensor:
        conv = _nnpack_conv()
        if conv is not None:
            try:
                return conv(x, self.weight.contiguous(), self.bias, padding)
            # RuntimeError: NNPACK says only "failed" (e.g. no memory for its buffers); TypeError: a torch
            # release changed the private op's signature.
            except (RuntimeError, TypeError):
                pass
        return F.conv2d(x.contiguous(memory_format=torch.channels_last), self.weight, self.bias, padding=padding)

    @property
    def thin(self) -> bool:
        """Few channels on one side: the matrix product beats Winograd at any size, so no pixel limit."""
        return min(self.in_channels, self.out_channels) <= THIN_CHANNELS

    def _thin(self, x: torch.Tensor, padding: list[int]) -> torch.Tensor:
        """A 3x3 convolution with few input or output channels as a single matrix product: with few inputs,
        of the weights and the nine shifted copies of the input (im2col); with few outputs, of the nine
        kernel taps and the input, the nine partial images then summed at their offsets. Both read the
        wide side once, where Winograd's transforms cost more than they save."""
        if padding != [0, 0]:
            x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
        c, h, w = x.shape[1], x.shape[2] - 2, x.shape[3] - 2
        taps = [(i, j) for i in range(3) for j in range(3)]
        if self.in_channels <= self.out_channels:
            cols = x.new_empty(9, c, h, w)
            for k, (i, j) in enumerate(taps):
                cols[k] = x[0, :, i:i + h, j:j + w]
            weight = self.weight.permute(0, 2, 3, 1).reshape(self.out_channels, 9 * c)
            out = torch.mm(weight, cols.view(9 * c, h * w)).view(1, self.out_channels, h, w)
        else:
            weight = self.weight.permute(2, 3, 0, 1).reshape(9 * self.out_channels, c)
            parts = torch.mm(weight, x.view(c, -1)).view(9, self.out_channels, h + 2, w + 2)
            out = parts[0, None, :, :h, :w].clone()
            for k, (i, j) in enumerate(taps[1:], 1):
                out[0] += parts[k, :, i:i + h, j:j + w]
        return out if self.bias is None else out.add_(self.bias.view(1, -1, 1, 1))


class SliceMaxPool2d(nn.MaxPool2d):
    """2x2, stride-2 max pooling of even-sized NCHW inputs as the maximum of four strided views."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu" or not x.is_contiguous() or \
                x.shape[-2] % 2 or x.shape[-1] % 2:
            return super().forward(x)
        top = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
        return torch.maximum(top, torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]), out=top)


def _fast_class(layer: nn.Module) -> type[nn.Module] | None:
    """The fast class that computes exactly what ``layer`` does, if there is one."""
    if type(layer) is nn.Conv2d:
        return FastConv2d
    if type(layer) is nn.MaxPool2d and layer.kernel_size in (2, (2, 2)) and layer.stride in (2, (2, 2)) and \
            layer.padding in (0, (0, 0)) and layer.dilation in (1, (1, 1)) and not layer.return_indices:
        return SliceMaxPool2d
    return None


def use_fast_cpu_layers(module: nn.Module) -> int:
    """Switch ``module``'s convolutions and 2x2 max poolings to the fast classes in place; the weights are
    untouched, so ``state_dict`` and ``load_state_dict`` are unchanged. Returns how many were switched."""
    if not nnpack_available():
        return 0
    switched = 0
    for layer in module.modules():
        fast = _fast_class(layer)
        if fast is not None:
            layer.__class__ = fast
            switched += 1
    return switched
