"""The int8 path for the CPU: the decoder quantized to int8 once, offline (``scripts/quantize_int8.py``),
and the encoder to relu4_1 beside it in float (run in bf16 where the CPU has it: int8 there cost the quality
gate), both OpenVINO models shipped in ``pipeline/weights/int8/`` with their provenance.

They run as ``openvino_nets.CompiledNet``s in place of the torch modules' inference forms; the fp32 torch
modules stay for what takes gradients. Without OpenVINO, or without the files, ``available()`` is False and
the CPU runs the best torch backend.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from pipeline.models import openvino_nets
from pipeline.models.openvino_nets import CompiledNet

FILES = ("encoder.xml", "encoder.bin", "decoder.xml", "decoder.bin")


def model_dir() -> Path:
    return Path(str(resources.files("pipeline.weights").joinpath("int8")))


@functools.cache
def available() -> bool:
    """OpenVINO is installed (``openvino_nets.available``: found, not imported) and the quantized models are
    in the package."""
    return all((model_dir() / f).is_file() for f in FILES) and openvino_nets.available()


def passed_gate() -> bool:
    """Whether ``--precision auto`` may take the shipped networks here (``refusal``); ``--precision int8``
    still does where they are not."""
    return refusal() is None


def refusal() -> str | None:
    """Why ``--precision auto`` does not take the shipped networks on this CPU, in words; None where it may.
    They must have passed both halves of the quality gate (``precision_gate.py``: photo pairs, and the warping
    error on the shared clips), as recorded in their provenance by ``scripts/quality.py --precisions`` /
    ``--video-precisions`` with ``--record``, and the CPU must have VNNI: the decoder's weights use all 8 bits
    (no overflow fix), which the older int8 kernels (AVX2, AVX-512 without VNNI) can saturate."""
    from pipeline.backends import cpu_flags

    if not {"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_flags()):
        return "this CPU has no VNNI"
    try:
        provenance = json.loads((model_dir() / "provenance.json").read_text())
    except (OSError, ValueError):
        return "no quality gate recorded"
    figures = provenance.get("quality_gate", {})
    failed = [half for half, ok in (("photos", figures.get("pass")), ("clips", figures.get("video", {}).get("pass")))
              if not ok]
    return f"failed the quality gate ({' and '.join(failed)}; docs/BENCHMARKS.md)" if failed else None


def compiled_pair(threads: int | None = None) -> tuple[CompiledNet, CompiledNet]:
    """The shipped encoder (to relu4_1, float; returns a one-element list, like ``VGGEncoder``) and int8
    decoder."""
    return openvino_nets.compiled(model_dir() / "encoder.xml", model_dir() / "decoder.xml", threads)
