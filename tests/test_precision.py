"""The bf16 CPU path that `--precision auto` picks on CPUs with native bf16: chosen where it should be, and
close to fp32 on a real photo (it runs nowhere else in the suite, since tests pin fp32 for exact pixels)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.device import cpu_has_fast_bf16, pick_dtype
from pipeline.io.images import read_image, to_tensor
from pipeline.ops.resize import resize_long_side
from tests.conftest import SAMPLES
from tests.helpers import make_stylizer, psnr


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file() or "ONEDNN_MAX_CPU_ISA" in os.environ,
                    reason="needs /proc/cpuinfo, and oneDNN not held below the CPU (ONEDNN_MAX_CPU_ISA)")
def test_auto_precision_follows_the_cpu():
    """bf16 exactly where the processor says it has native bf16 (read from the CPU, not from the code)."""
    native = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert pick_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if native else torch.float32)
    assert cpu_has_fast_bf16() == native
    assert pick_dtype("fp32", torch.device("cpu")) == torch.float32


@pytest.mark.bf16
def test_bf16_matches_fp32_on_a_real_photo():
    photo = resize_long_side(to_tensor(read_image(SAMPLES / "content" / "coffee.jpg").rgb)[None], 256)
    style = SAMPLES / "style" / "starry_night.jpg"
    out = {}
    for precision in ("fp32", "bf16"):
        stylizer = make_stylizer(None, style, size=256, precision=precision, calibrate=True, calibration_size=256)
        assert stylizer.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
        image = stylizer(photo)[0]
        out[precision] = (image.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    assert not np.array_equal(out["fp32"], out["bf16"])  # the bf16 kernels really ran
    assert psnr(out["fp32"], out["bf16"]) > 35  # 8-bit output: differences of a level or two
