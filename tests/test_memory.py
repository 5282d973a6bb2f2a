"""Never out of memory: tiles with whole-frame AdaIN statistics, and batch halving on OOM."""

import platform
import resource

import pytest
import torch

from pipeline.device import keep_freed_memory
from pipeline.models.decoder import load_decoder
from pipeline.models.vgg import load_encoder
from pipeline.ops.tiles import tiled_apply
from pipeline.stylizer import TILE_OVERLAP, Stylizer, load_style_images
from tests.conftest import SAMPLES
from tests.helpers import gradient_image


def _stylizer(decoder_file, tile=0):
    return Stylizer(load_encoder(), load_decoder(decoder_file), load_style_images([SAMPLES / "style" / "starry_night.jpg"], 128),
                    tile=tile)


def test_tiled_apply_identity_and_scaling():
    x = torch.rand(1, 2, 50, 70)
    assert torch.equal(tiled_apply(x, lambda t: t, tile=24, overlap=4, scale=1, out_channels=2), x)
    up = tiled_apply(x, lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2), 24, 4, 2, 2)
    assert torch.equal(up, x.repeat_interleave(2, -1).repeat_interleave(2, -2))


def test_tiles_match_the_whole_frame(random_decoder_file):
    image = torch.from_numpy(gradient_image(600, 344)).permute(2, 0, 1)[None].float() / 255
    stylizer = _stylizer(random_decoder_file)
    whole = stylizer(image)
    tiled = _stylizer(random_decoder_file, tile=2 * TILE_OVERLAP + 64)(image)  # forces a 4x2 grid of tiles
    assert tiled.shape == whole.shape == image.shape
    diff = (tiled - whole).abs()
    seam_columns = diff[..., :, 100:500]  # where the tile borders are
    assert diff.max().item() < 1e-3 and seam_columns.mean().item() < 1e-5


def test_out_of_memory_halves_the_batch_then_tiles(random_decoder_file, monkeypatch):
    stylizer = _stylizer(random_decoder_file)
    expected = stylizer(torch.rand(4, 3, 64, 80, generator=torch.Generator().manual_seed(0)))
    real_encode, sizes = stylizer.encode, []

    def encode_with_small_memory(batch):
        sizes.append(batch.shape[0])
        if batch.shape[0] > 1 or batch.shape[-1] > 300:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_encode(batch)

    monkeypatch.setattr(stylizer, "encode", encode_with_small_memory)
    out = stylizer(torch.rand(4, 3, 64, 80, generator=torch.Generator().manual_seed(0)))
    assert sizes[:3] == [4, 2, 1] and torch.allclose(out, expected, atol=1e-5)
    big = torch.rand(1, 3, 64, 400)
    assert stylizer(big).shape == big.shape  # one frame too large: handled in tiles


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap setting is glibc's")
def test_freed_large_tensors_are_reused_without_page_faults():
    """After keep_freed_memory, a 64 MB tensor freed and allocated again is not zero-filled afresh by the
    kernel (16,384 page faults of 4 kB each without it)."""
    assert keep_freed_memory()
    torch.ones(2**24).sum()  # 64 MB: over glibc's largest mmap threshold (32 MB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.ones(2**24).sum()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 2000
