"""The int8 path for the CPU: the decoder quantized to int8 once, offline (``scripts/quantize_int8.py``),
and the encoder to relu4_1 beside it in float (run in bf16 where the CPU has it: int8 there cost the quality
gate), both OpenVINO models shipped in ``pipeline/weights/int8/`` with their provenance.

They stand in for the torch modules' inference forms (``Networks.encode_fn`` / ``decode_fn``): torch tensors
in and out, any batch and size. The fp32 torch modules stay for what takes gradients. OpenVINO is optional
(``pip install 'stylize-pipeline[int8]'``); without it, or without the files, ``available()`` is False and
the CPU runs the best torch backend.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import json
import os
import sys
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import torch

FILES = ("encoder.xml", "encoder.bin", "decoder.xml", "decoder.bin")


def model_dir() -> Path:
    return Path(str(resources.files("pipeline.weights").joinpath("int8")))


@functools.cache
def available() -> bool:
    """OpenVINO is installed and the quantized models are in the package. Found, not imported: importing it
    costs a start-up 0.15 s, spent only where the int8 networks run."""
    if not all((model_dir() / f).is_file() for f in FILES):
        return False
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def passed_gate() -> bool:
    """Whether the shipped networks passed both halves of the quality gate (``precision_gate.py``: photo
    pairs, and the warping error on the shared clips), as recorded in their provenance by
    ``scripts/quality.py --precisions`` / ``--video-precisions`` with ``--record``: ``--precision auto``
    never takes them otherwise (``--precision int8`` still does). Only on a CPU with VNNI: the decoder's
    weights use all 8 bits (no overflow fix), which the older int8 kernels (AVX2, AVX-512 without VNNI) can
    saturate."""
    from pipeline.backends import cpu_flags

    if not {"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_flags()):
        return False
    try:
        provenance = json.loads((model_dir() / "provenance.json").read_text())
    except (OSError, ValueError):
        return False
    figures = provenance.get("quality_gate", {})
    return bool(figures.get("pass") and figures.get("video", {}).get("pass"))


class CompiledNet:
    """One quantized network compiled for this CPU: ``net(x)`` takes an (N, C, H, W) float tensor and returns
    its output as a float tensor (a copy: OpenVINO reuses its output buffer). One infer request per thread,
    as video lanes call it side by side."""

    def __init__(self, name: str, threads: int, list_output: bool = False) -> None:
        os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")  # it could not reach its server anyway
        import openvino as ov

        # One stream, the run's threads: frames come one batch at a time, and results must not depend on
        # how the work was split (OpenVINO's int8 kernels gave the same bytes for 1 and 2 threads). Float
        # layers run at OpenVINO's default inference precision: bf16 where the CPU has it, else f32.
        config = {"NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY"}
        with keeping_signal_stack():
            core = ov.Core()
            model = core.read_model(str(model_dir() / f"{name}.xml"))
            self.compiled = core.compile_model(model, "CPU", config)
        self.list_output = list_output
        self._local = threading.local()

    def __call__(self, x: torch.Tensor):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        array = np.ascontiguousarray(x.detach().float().contiguous().cpu().numpy())
        request.infer({0: array})
        out = torch.from_numpy(np.array(request.get_output_tensor(0).data, copy=True))
        return [out] if self.list_output else out


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]  # Linux


@contextlib.contextmanager
def keeping_signal_stack():
    """Give the calling thread back the alternate signal stack it had before the block. OpenVINO's CPU
    plugin, when it loads, points the loading thread's signal stack at a small mapping of its own (for AMX
    state) and unmaps that mapping when the plugin goes, leaving the thread's stack set: the next signal
    handled there with SA_ONSTACK (Python's SIGINT handler is) is delivered onto unmapped or reused memory,
    a SIGSEGV or a corrupted heap (Ctrl-C after the backend probe had run int8 and dropped it). Signals
    then run on the thread's own stack, as before OpenVINO loaded. Linux only (elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    before = _StackT()
    libc.sigaltstack(None, ctypes.byref(before))
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(before), None)


def compiled_pair(threads: int | None = None) -> tuple[CompiledNet, CompiledNet]:
    """The shipped encoder (to relu4_1, float; returns a one-element list, like ``VGGEncoder``) and int8
    decoder."""
    threads = threads or torch.get_num_threads()
    return CompiledNet("encoder", threads, list_output=True), CompiledNet("decoder", threads)
