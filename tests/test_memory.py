"""Never out of memory: tiles with whole-frame AdaIN statistics, and batch halving on OOM."""

import platform
import subprocess
import sys

import pytest
import torch

from pipeline import tiling
from pipeline.ops.adain import calc_mean_std
from pipeline.ops.tiles import tile_shape, tiled_apply
from pipeline.options import TILE_OVERLAP
from tests.conftest import SAMPLES
from tests.helpers import gradient_image, make_stylizer


def _stylizer(decoder_file, tile=0, feedback=0, memory_budget=2.0):
    """A style at 128 px; fp32's kernels probed at the frames' size here (up to 800 px: the probe's cap, 512)."""
    return make_stylizer(decoder_file, SAMPLES / "style" / "starry_night.jpg", 128, tile=tile, feedback=feedback,
                         memory_budget=memory_budget, calibration_size=512)


def _gradient(width, height):
    return torch.from_numpy(gradient_image(width, height)).permute(2, 0, 1)[None].float() / 255


def _record_encoded_shapes(stylizer, monkeypatch):
    shapes, real_encode = [], stylizer.encode
    monkeypatch.setattr(stylizer, "encode", lambda batch: shapes.append(tuple(batch.shape)) or real_encode(batch))
    return shapes


def test_tiled_apply_identity_and_scaling():
    x = torch.rand(1, 2, 50, 70)
    assert torch.equal(tiled_apply(x, lambda t: t, tile=24, overlap=4, scale=1, out_channels=2), x)
    up = tiled_apply(x, lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2), 24, 4, 2, 2)
    assert torch.equal(up, x.repeat_interleave(2, -1).repeat_interleave(2, -2))
    assert torch.equal(tiled_apply(x, lambda t: t, tile=(20, 32), overlap=4, scale=1, out_channels=2), x)


def test_tile_shape_computes_the_fewest_pixels():
    # 1088 rows in 2 tiles of (1088 + 2 * 48) / 2 = 592; 1920 columns in 4 of (1920 + 6 * 48) / 4 = 552.
    # One row of full-height tiles would need 7 of 360 columns: 2.74 Mpx computed against 2.61 Mpx.
    assert tile_shape(1088, 1920, 640 * 640, 48, 8) == (592, 552)
    assert tile_shape(720, 1280, 640 * 640, 48, 8) == (720, 496)  # 1x3: 1.07 Mpx, no split of the rows
    assert tile_shape(600, 344, 160 * 160, 48, 8, max_side=160) == (160, 160)  # 8x4
    assert tile_shape(100, 100, 640 * 640, 48, 8) == (100, 100)  # fits whole


def test_tiles_match_the_whole_frame(random_decoder_file):
    image = _gradient(600, 344)
    whole = _stylizer(random_decoder_file)(image)
    tiled = _stylizer(random_decoder_file, tile=2 * TILE_OVERLAP + 64)(image)  # 4x8 tiles of 160x160
    assert tiled.shape == whole.shape == image.shape
    diff = (tiled - whole).abs()
    seam_columns = diff[..., :, 100:500]  # where the tile borders are
    assert diff.max().item() < 1e-3 and seam_columns.mean().item() < 1e-5


def test_feedback_passes_work_in_tiles(random_decoder_file):
    image = _gradient(320, 256)
    whole = _stylizer(random_decoder_file, feedback=1)(image)
    tiled = _stylizer(random_decoder_file, tile=160, feedback=1)(image)
    plain = _stylizer(random_decoder_file)(image)
    assert (tiled - whole).abs().max().item() < 1e-3
    assert (whole - plain).abs().mean().item() > 1e-3  # the feedback pass did change the result


def test_cpu_frames_go_in_tiles_past_the_memory_budget(random_decoder_file, monkeypatch):
    """Whole frames within --memory-budget (the default 2 GiB holds 800x784 whole), tiles past it: at 1 GiB
    the process leaves 164 MiB, tiles of at most 143,000 pixels."""
    image = _gradient(800, 784)
    assert tiling.cpu_tile_area(784, 800, 2.0) is None and tiling.cpu_tile_area(720, 1280, 2.0) is None
    small = tiling.cpu_tile_area(784, 800, 1.0)
    assert small is not None and 130_000 < small < 150_000
    assert tiling.cpu_tile_area(1088, 1920, 2.0) is not None  # 1080p in bf16 peaks near 2.8 GiB whole
    assert tiling.cpu_tile_area(64, 64, 0.25) == 128 * 128  # a budget below the process: the smallest tiles
    whole_stylizer, tiled_stylizer = _stylizer(random_decoder_file), _stylizer(random_decoder_file, memory_budget=1.0)
    shapes = _record_encoded_shapes(tiled_stylizer, monkeypatch)
    tiled = tiled_stylizer(image)
    assert max(h * w for *_, h, w in shapes) <= small and len(shapes) > 1
    shapes = _record_encoded_shapes(whole_stylizer, monkeypatch)
    whole = whole_stylizer(image)
    assert shapes == [tuple(image.shape)] and (tiled - whole).abs().max().item() < 1e-3


def test_both_stages_tile_with_statistics_the_caller_gives(random_decoder_file, monkeypatch):
    """The video path's two stages (temporal smoothing puts its statistics between them) go through the same
    tiles as single images: the networks per tile, the given statistics for the whole frames."""
    frames = torch.cat([_gradient(296, 200), _gradient(296, 200).flip(-1)])
    whole_stylizer = _stylizer(random_decoder_file)
    encoded = whole_stylizer.encode_batch(frames)
    mean, std = calc_mean_std(encoded.feats)
    smoothed = (mean.mean(0, keepdim=True).expand_as(mean), std.mean(0, keepdim=True).expand_as(std))
    whole = whole_stylizer.decode_batch(encoded, smoothed)
    stylizer = _stylizer(random_decoder_file, tile=160)
    shapes = _record_encoded_shapes(stylizer, monkeypatch)
    tiled_encoded = stylizer.encode_batch(frames)
    assert tiled_encoded.tile is not None and encoded.tile is None
    assert (tiled_encoded.feats - encoded.feats).abs().max().item() < 1e-5 * encoded.feats.abs().max().item()
    tiled = stylizer.decode_batch(tiled_encoded, smoothed)
    assert max(max(h, w) for *_, h, w in shapes) <= 160 and tiled.shape == frames.shape
    assert (tiled - whole).abs().max().item() < 1e-3
    assert (whole - whole_stylizer(frames)).abs().mean().item() > 1e-3  # the statistics given were used


def test_out_of_memory_halves_the_batch_then_tiles(random_decoder_file, monkeypatch):
    stylizer = _stylizer(random_decoder_file)
    batch = torch.rand(4, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    expected = stylizer(batch)
    big = torch.rand(1, 3, 64, 400, generator=torch.Generator().manual_seed(1))
    whole = stylizer(big)
    real_encode, sizes, widths = stylizer.encode, [], []

    def encode_with_small_memory(batch):
        sizes.append(batch.shape[0])
        widths.append(batch.shape[-1])
        if batch.shape[0] > 1 or batch.shape[-1] > 300:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_encode(batch)

    monkeypatch.setattr(stylizer, "encode", encode_with_small_memory)
    encoded = stylizer.encode_batch(batch)
    assert sizes[:3] == [4, 2, 1] and encoded.feats.shape[0] == 4  # the caller sees the whole batch's features
    assert torch.allclose(stylizer.decode_batch(encoded), expected, atol=1e-5)
    widths.clear()
    tiled = stylizer(big)  # one frame too large: handled in tiles, with the whole frame's statistics
    assert widths[0] == 400 and len(widths) > 2 and max(widths[1:]) <= 300 and tiled.shape == big.shape
    assert (tiled - whole).abs().max().item() < 2e-3


FAULTS_OF_EIGHT_64MB_TENSORS = """
import resource, torch
from pipeline.device import keep_freed_memory
assert {keep}
for _ in range(12):  # the heap settles in (here the first four to eight still fault, some of them)
    torch.ones(2**24).sum()  # 64 MB: over glibc's largest mmap threshold (32 MB)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    torch.ones(2**24).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap setting is glibc's")
def test_freed_large_tensors_are_reused_without_page_faults():
    """After keep_freed_memory, a 64 MB tensor freed and allocated again is not zero-filled afresh by the
    kernel once the heap has settled: without it each is 16,384 page faults of 4 kB. In a fresh process,
    since what earlier tests left in the heap decides where the next block goes. One of the eight is now and
    then faulted in again (2 runs in 24 here, on a VM whose kernel reclaims idle memory, kdamond): two are
    allowed, against all eight without it."""
    faults = {keep: int(subprocess.run([sys.executable, "-c", FAULTS_OF_EIGHT_64MB_TENSORS.format(keep=keep)],
                                       check=True, capture_output=True, text=True).stdout)
              for keep in ("keep_freed_memory()", "True")}
    assert faults["keep_freed_memory()"] < 2 * 16384 + 2000 and faults["True"] > 8 * 16000, faults
