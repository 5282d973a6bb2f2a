"""Device and precision choice, shared by every command so they behave the same on CPU and CUDA."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import warnings
from collections.abc import Callable

import torch

from pipeline.errors import OptionError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA when present, else CPU; asking for CUDA without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError(f"--device {name} was asked for, but no CUDA device is available")
    return torch.device(name)


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed memory in the heap instead of handing it back to the OS (glibc only; elsewhere a no-op).

    glibc maps each large block afresh and unmaps it when freed, so every large activation would be
    zero-filled by the kernel page by page, every frame. Up to 128 MB of free memory at the top of the heap
    is kept too (docs/BENCHMARKS.md, "Keeping freed memory"). Process-wide: called by
    ``process.setup_process``. Returns whether it applied."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # Windows has no process-wide C library handle
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**27))


def cpu_has_fast_bf16() -> bool:
    """oneDNN runs bf16 convolutions natively (AVX512-BF16 / AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Autocast dtype (int8: fp32, its torch side; the quantized networks are ``models/int8.py``'s). ``auto``: bf16 (or fp16) on CUDA; on the CPU bf16 where oneDNN has native bf16
    (faster, and 8-bit output cannot show the difference: docs/BENCHMARKS.md, "CPU fast layers"),
    else fp32."""
    if precision == "auto":
        if device.type != "cuda":
            return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32}[precision]


def autocast(device: torch.device, dtype: torch.dtype):
    """An autocast context for reduced precision, or a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def compile_or_eager(module: Callable) -> Callable:
    """``torch.compile(module)``, falling back to the eager module (with one warning) if compiling or the
    first compiled call fails, e.g. without a C compiler or on an unsupported platform."""
    try:
        compiled = torch.compile(module, dynamic=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: run eagerly
        warnings.warn(f"torch.compile unavailable ({exc}); running eagerly", stacklevel=2)
        return module
    state = {"fn": compiled}

    def call(*args, **kwargs):
        try:
            return state["fn"](*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            if state["fn"] is module:
                raise
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); running eagerly", stacklevel=2)
            state["fn"] = module
            return module(*args, **kwargs)

    return call
