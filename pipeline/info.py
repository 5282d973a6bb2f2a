"""What this machine and this install offer the networks: ``stylize info``."""

from __future__ import annotations

import importlib.metadata
import os

import torch

from pipeline import backends
from pipeline.cache import cache_dir
from pipeline.device import cpu_has_fast_bf16
from pipeline.models.fast_cpu import nnpack_available

PACKAGES = ("torch", "torchvision", "av", "opencv-python-headless", "numpy", "ray", "openvino")


def machine_info(size: int = 384, probe: bool = True, reprobe: bool = False) -> dict:
    """CPU model and the flags that matter, threads, CUDA devices, library versions, the CPU backends this
    install has, those ``auto`` leaves out and why, and (``probe``) their probe times at long side ``size``
    with the ones ``--precision auto`` and ``fp32`` would take (measured now, or read from the cache;
    ``reprobe``: measured now whatever the cache holds)."""
    info = {
        "cpu": backends.cpu_model(), "cpu_flags": backends.cpu_flags(), "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(), "nnpack": nnpack_available(), "native_bf16": cpu_has_fast_bf16(),
        "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "versions": {name: _version(name) for name in PACKAGES},
        "cpu_backends": backends.available(), "left_out": backends.left_out(), "cache": str(cache_dir()),
    }
    if reprobe:
        backends.forget(size)
    if probe or reprobe:
        chosen = backends.for_precision("auto", size)
        info["probe_size"] = backends.probe_side(size)
        info["probe_s"] = {name: round(seconds, 4) for name, seconds in chosen.measured}
        info["auto_backend"] = chosen.name
        # auto timed fp32's candidates too: its figures decide, nothing is timed twice (one candidate: none timed)
        fp32 = {name: seconds for name, seconds in chosen.measured if name in backends.FP32}
        info["fp32_backend"] = (backends.fastest(fp32) if len(fp32) > 1 else backends.for_precision("fp32", size)).name
    return info


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def format_info(info: dict) -> str:
    """``machine_info`` as aligned lines for a terminal."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    lines = [("cpu", f"{info['cpu']} ({info['cpus']} logical, {info['threads']} threads used)"),
             ("cpu flags", " ".join(info["cpu_flags"]) or "none of those that matter"),
             ("native bf16", "yes" if info["native_bf16"] else "no (bf16 would be emulated)"),
             ("nnpack", "yes" if info["nnpack"] else "no"),
             ("cuda", ", ".join(info["cuda"]) or "none"),
             ("cpu backends", ", ".join(info["cpu_backends"])),
             ("auto leaves out", "; ".join(f"{name}: {why}" for name, why in info["left_out"].items()) or "none"),
             ("versions", versions), ("cache", info["cache"])]
    if "probe_s" in info:
        timed = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in info["probe_s"].items()) or "one candidate, not timed"
        lines.append((f"probe at {info['probe_size']}", timed))
        lines += [(f"--precision {p}", f"{info[p + '_backend']} on the CPU") for p in ("auto", "fp32")]
    return "\n".join(f"{k:>17}: {v}" for k, v in lines)
