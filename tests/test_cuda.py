"""CUDA-only checks (skipped without a GPU): the device path agrees with the CPU path."""

import pytest
import torch

from pipeline.models.decoder import load_decoder
from pipeline.models.vgg import load_encoder
from pipeline.stylizer import Stylizer, auto_batch_size, load_style_images
from tests.conftest import SAMPLES

pytestmark = pytest.mark.cuda


def _stylizer(device: str, dtype: torch.dtype, decoder_file) -> Stylizer:
    return Stylizer(load_encoder(), load_decoder(decoder_file), load_style_images([SAMPLES / "style" / "starry_night.jpg"], 256),
                    device=device, dtype=dtype)


def test_cuda_matches_cpu(random_decoder_file):
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    cpu = _stylizer("cpu", torch.float32, random_decoder_file)(x)
    gpu = _stylizer("cuda", torch.float32, random_decoder_file)(x).cpu()
    assert (gpu - cpu).abs().max().item() < 1e-2
    bf16 = _stylizer("cuda", torch.bfloat16, random_decoder_file)(x).cpu()
    assert (bf16 - cpu).abs().mean().item() < 2e-2


def test_auto_batch_size_fits(random_decoder_file):
    stylizer = _stylizer("cuda", torch.bfloat16, random_decoder_file)
    batch = auto_batch_size(stylizer, (288, 512))
    assert 1 <= batch <= 64
    assert stylizer(torch.rand(batch, 3, 288, 512, device="cuda")).shape == (batch, 3, 288, 512)
