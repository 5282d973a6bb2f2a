"""CUDA-only checks (skipped without a GPU): the device path agrees with the CPU path."""

import pytest
import torch

from pipeline.process import setup_process
from pipeline.stylizer import Stylizer, auto_batch_size
from tests.conftest import SAMPLES
from tests.helpers import make_stylizer

pytestmark = pytest.mark.cuda
PRECISION = {torch.float32: "fp32", torch.bfloat16: "bf16"}


def _stylizer(device: str, dtype: torch.dtype, decoder_file) -> Stylizer:
    setup_process(torch.device(device), dtype)  # as the CLI does: fp32 on CUDA without TF32
    return make_stylizer(decoder_file, SAMPLES / "style" / "starry_night.jpg", 256, device=device,
                         precision=PRECISION[dtype])


def _relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out - ref).norm() / ref.norm()).item()


def test_cuda_matches_cpu(random_decoder_file):
    """Relative error against the CPU (TF32 is off for fp32, see process.setup_process; bf16 is looser)."""
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    cpu = _stylizer("cpu", torch.float32, random_decoder_file)(x)
    fp32 = _relative_error(_stylizer("cuda", torch.float32, random_decoder_file)(x).cpu(), cpu)
    bf16 = _relative_error(_stylizer("cuda", torch.bfloat16, random_decoder_file)(x).cpu(), cpu)
    assert fp32 < 1e-2, fp32
    assert bf16 < 5e-2, bf16


def test_auto_batch_size_fits(random_decoder_file):
    stylizer = _stylizer("cuda", torch.bfloat16, random_decoder_file)
    batch = auto_batch_size(stylizer, (288, 512))
    assert 1 <= batch <= 16  # auto_batch_size's limit
    assert stylizer(torch.rand(batch, 3, 288, 512, device="cuda")).shape == (batch, 3, 288, 512)


def test_adaptation_runs_on_cuda_and_is_cached_exactly(random_decoder_file):
    """``--adapt`` is the default on CUDA: the fine-tuning runs there, and a second run reuses its weights."""
    make = lambda adapt: make_stylizer(random_decoder_file, SAMPLES / "style" / "starry_night.jpg", 128,
                                       device="cuda", precision="bf16", calibrate=True, calibration_size=128,
                                       adapt=adapt)
    x = torch.rand(1, 3, 96, 128, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    first = make(2)(x)
    assert torch.equal(make(2)(x), first)
    assert not torch.equal(make(0)(x), first)
