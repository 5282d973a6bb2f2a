"""The networks run by OpenVINO on the CPU: compiled forms that stand in for the torch modules' inference forms
(``Networks.encode_fn`` / ``decode_fn``), torch tensors in and out, any batch and size.

Two uses: the ``openvino`` backend runs the run's own encoder (to relu4_1) and decoder in float, converted from
the torch modules once and kept in the cache folder by their weights' digest (OpenVINO fuses the reflection
padding that torch copies, and runs bf16 where the CPU has it: docs/BENCHMARKS.md, "OpenVINO float"); the
``int8`` backend runs the shipped quantized files (``models/int8.py``). OpenVINO is optional
(``pip install 'stylize-pipeline[openvino]'``): without it ``available()`` is False and the CPU runs torch.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import hashlib
import importlib.util
import logging
import os
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.cache import cache_dir

FOLDER = "openvino"  # in the cache folder: converted float networks, <name>-<digest>.xml / .bin, and compiled/
log = logging.getLogger(__name__)
# The process's first infer runs alone: OpenVINO's bindings set up their NumPy access on first use (pybind11's
# gil_safe_call_once_and_store inside a function-local static), and two lanes arriving there together deadlocked,
# one holding the static's guard with the GIL, the other holding the once-flag waiting for the GIL.
_FIRST_INFER = threading.Lock()
_first_done = threading.Event()


@functools.cache
def available() -> bool:
    """OpenVINO is installed. Found, not imported: importing it costs a start-up 0.15 s, spent only where
    its networks run."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


class CompiledNet:
    """One OpenVINO model compiled for this CPU: ``net(x)`` takes an (N, C, H, W) float tensor and returns its
    output as a float tensor (a copy: OpenVINO reuses its output buffer). One infer request per thread, as
    video lanes call it side by side. ``model``: a path to its .xml (the .bin beside it) or an ``ov.Model``.
    OpenVINO keeps a file's compiled form in the cache folder (``compiled/``, by ``_compile_kept``)."""

    def __init__(self, model, threads: int, list_output: bool = False) -> None:
        os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")  # it could not reach its server anyway
        import openvino as ov

        # One stream, the run's threads: frames come one batch at a time, and results must not depend on
        # how the work was split (the same bytes for 1 and 2 threads, batch 1 or 3, in bf16 and int8).
        # Float layers run at OpenVINO's default inference precision: bf16 where the CPU has it, else f32.
        config = {"NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY"}
        with keeping_signal_stack():
            core = ov.Core()
            if isinstance(model, ov.Model):
                self.compiled = core.compile_model(model, "CPU", config)
            else:  # a file: its compiled form is kept (0.01 s to load, not 0.05)
                self.compiled = _compile_kept(core, Path(model), config)
        self.list_output = list_output
        self._local = threading.local()

    def __call__(self, x: torch.Tensor):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        inputs = {0: x.detach().float().contiguous().cpu().numpy()}
        if _first_done.is_set():
            request.infer(inputs)
        else:
            with _FIRST_INFER:
                request.infer(inputs)
                _first_done.set()
        out = torch.from_numpy(np.array(request.get_output_tensor(0).data, copy=True))
        return [out] if self.list_output else out


def backend_pair(name: str, encoder: nn.Module, decoder: nn.Module) -> tuple[CompiledNet, CompiledNet]:
    """The compiled encoder and decoder that backend ``name`` runs: int8's shipped files (``models/int8.py``)
    or, for ``openvino``, ``encoder`` and ``decoder`` themselves (``float_pair``)."""
    if name == "int8":
        from pipeline.models.int8 import compiled_pair

        return compiled_pair()
    return float_pair(encoder, decoder)


def _compile_kept(core, model: Path, config: dict):
    """``model`` (an .xml) compiled by ``core``, its compiled form kept in ``compiled/`` of the cache folder, by
    one process at a time. OpenVINO writes that blob in place, with no lock between processes, and deletes one
    it cannot read: a process that read another's blob half-written deleted it under the writer, whose compile
    then failed ("cannot set permissions: No such file or directory"; two Ray workers starting together). The
    one that waits then loads the finished blob (a cut-short one, from a killed run, OpenVINO compiles again)."""
    from filelock import FileLock

    folder = cache_dir() / FOLDER / "compiled"
    folder.mkdir(parents=True, exist_ok=True)
    core.set_property({"CACHE_DIR": str(folder)})
    with FileLock(folder / ".lock"):
        return core.compile_model(str(model), "CPU", config)


def float_pair(encoder: nn.Module, decoder: nn.Module, threads: int | None = None) -> tuple[CompiledNet, CompiledNet]:
    """``encoder`` (a ``VGGEncoder``; run to relu4_1) and ``decoder`` compiled by OpenVINO in float, converted
    once per weights (``converted_pair``)."""
    return compiled(*converted_pair(encoder, decoder), threads)


def compiled(encoder_model, decoder_model, threads: int | None = None) -> tuple[CompiledNet, CompiledNet]:
    """An encoder's and a decoder's models compiled with ``threads`` (default: torch's); the encoder returns
    a one-element list, like ``VGGEncoder``."""
    threads = threads or torch.get_num_threads()
    return CompiledNet(encoder_model, threads, list_output=True), CompiledNet(decoder_model, threads)


def converted_pair(encoder: nn.Module, decoder: nn.Module) -> tuple:
    """The OpenVINO models (``converted``) of ``encoder`` to relu4_1 and of ``decoder``, compiled by no one:
    what the backend probe makes before its clock starts."""
    encoder = encoder.up_to("relu4_1") if hasattr(encoder, "up_to") else encoder
    return converted(_FirstOutput(encoder), "encoder", 3, 64), converted(decoder, "decoder", 512, 8)


class _FirstOutput(nn.Module):
    """The encoder's first output alone (relu4_1): OpenVINO models return tensors, not lists."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[0]


def converted(module: nn.Module, name: str, channels: int, side: int = 64):
    """``module`` (input: ``channels`` channels, any batch and size) as an OpenVINO model: the .xml of its
    conversion in the cache folder when one was made for these weights and this OpenVINO, else converted now
    (it traces the module on a ``side`` x ``side`` input: the smaller, the quicker; the decoder took 5.6 s on
    64x64 features, 0.7 s on 8x8) and stored there for the next run (by write-and-rename: a reader never sees
    half a file); the model itself where the folder cannot be written."""
    import openvino as ov

    path = cache_dir() / FOLDER / f"{name}-{digest(module, ov.get_version())}.xml"
    if path.is_file() and path.with_suffix(".bin").is_file():
        return path
    module = _float_copy(module)
    with keeping_signal_stack(), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's deprecation notices: the converter's concern, not the user's
        model = ov.convert_model(module, example_input=torch.rand(1, channels, side, side),
                                 input=[(-1, channels, -1, -1)])
    try:
        _store(model, path)
    except OSError as exc:
        log.info("the converted %s could not be kept in %s (%s): converted again next run", name, path.parent, exc)
        return model
    return path


def _float_copy(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).float().to(memory_format=torch.contiguous_format).eval()


def digest(module: nn.Module, version: str) -> str:
    """What a conversion depends on: the module's structure (its repr: layers, padding modes), its weights'
    bytes and the OpenVINO version; 16 hex digits."""
    h = hashlib.sha256(f"{version}|{module!r}".encode())
    for key, tensor in module.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().float().contiguous().cpu().numpy())  # its buffer, not a copy
    return h.hexdigest()[:16]


def _store(model, path: Path) -> None:
    """Save ``model`` as ``path`` (.xml) and its .bin: written under temporary names, the .bin renamed first,
    so that an .xml in place always has its whole .bin beside it."""
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)  # f32 weights: exact where the CPU runs f32
    os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(tmp, path)


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
