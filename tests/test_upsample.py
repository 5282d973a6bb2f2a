"""--upscale guided: edge-aware upsampling of a small result with the full-size source (ops/upsample.py)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.ops.upsample import guided_upsample
from pipeline.options import EncodeOptions, TemporalOptions, VideoOptions
from tests.helpers import gradient_image, make_stylizer, run_cli

FULL, SMALL = 192, 48


def _step_source() -> torch.Tensor:
    """A dark-left / bright-right photo-like source (a little noise) with a vertical edge at an odd column."""
    source = torch.full((1, 3, FULL, FULL), 0.15)
    source[..., FULL // 2 + 1:] = 0.85
    return (source + 0.01 * torch.randn_like(source)).clamp(0, 1)


def _stylized(small_source: torch.Tensor) -> torch.Tensor:
    """A 'stylized' small result: the edge in other colours (and one channel inverted), plus fine strokes."""
    r, g, b = small_source[:, 0], small_source[:, 1], small_source[:, 2]
    strokes = 0.05 * torch.sin(torch.arange(SMALL).float() * 1.7).view(1, 1, SMALL)
    return torch.stack([0.2 + 0.6 * r + strokes, 0.5 + 0.3 * g, 0.9 - 0.7 * b], 1)


def _edge_width(image: torch.Tensor, channel: int) -> int:
    """Pixels along the middle rows that lie between 10 % and 90 % of the way across the edge."""
    rows = image[0, channel, FULL // 2 - 8:FULL // 2 + 8].mean(0)
    lo, hi = rows[: FULL // 4].mean(), rows[-FULL // 4:].mean()
    t = (rows - lo) / (hi - lo)
    return int(((t > 0.1) & (t < 0.9)).sum())


def test_guided_keeps_the_sources_edge_where_resize_blurs_it():
    source = _step_source()
    small = _stylized(F.interpolate(source, size=(SMALL, SMALL), mode="area"))
    guided = guided_upsample(small, source)
    resized = F.interpolate(small, size=(FULL, FULL), mode="bicubic", align_corners=False)
    for channel in (1, 2):  # a channel that follows the source and one that inverts it (0 has strokes)
        assert _edge_width(guided, channel) <= 1 < 3 <= _edge_width(resized, channel)
    # The colours are the small result's, not the source's: per-channel means and the two sides' levels.
    assert torch.allclose(guided.mean((2, 3)), small.mean((2, 3)), atol=0.01)
    left, right = guided[..., 8:-8, 8:FULL // 2 - 8], guided[..., 8:-8, FULL // 2 + 8:-8]
    assert torch.allclose(left.mean((2, 3)), small[..., 2:-2, 2:SMALL // 2 - 2].mean((2, 3)), atol=0.02)
    assert torch.allclose(right.mean((2, 3)), small[..., 2:-2, SMALL // 2 + 2:-2].mean((2, 3)), atol=0.02)


def test_guided_leaves_the_results_own_strokes_and_is_the_identity_at_equal_size():
    source = _step_source()
    small = _stylized(F.interpolate(source, size=(SMALL, SMALL), mode="area"))
    assert torch.equal(guided_upsample(small, F.interpolate(source, size=(SMALL, SMALL), mode="area")), small)
    # Where the source is flat the result is the plain resize: strokes (channel 0's sine) as they were.
    guided = guided_upsample(small, source)
    resized = F.interpolate(small, size=(FULL, FULL), mode="bicubic", align_corners=False)
    flat = (slice(None), slice(None), slice(16, -16), slice(16, FULL // 2 - 16))
    assert (guided[flat] - resized[flat]).abs().max().item() < 0.02
    assert resized[flat][:, 0].std().item() > 0.02  # the strokes are there to keep


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    image = gradient_image(160, 120)
    image[:, 80:] = 255 - image[:, 80:]  # a hard vertical edge
    Image.fromarray(image).save(root / "edge.png")
    return root


def test_folder_keep_size_guided_is_sharper_than_resize(tmp_path, photo_dir, random_decoder_file):
    from pipeline.jobs.folder import plan_folder, run_folder
    from pipeline.options import FolderOptions

    stylizer = make_stylizer(random_decoder_file, size=64)
    outs = {}
    for mode in ("guided", "resize"):
        tasks, _ = plan_folder(photo_dir, tmp_path / mode)
        run_folder(stylizer, tasks, FolderOptions(size=64, keep_size=True, batch_size=1, upscale=mode))
        outs[mode] = np.asarray(Image.open(tmp_path / mode / "edge.png")).astype(float)
    assert outs["guided"].shape == outs["resize"].shape == (120, 160, 3)
    jump = lambda o: np.abs(np.diff(o[10:-10, 76:84].mean(2), axis=1)).max(1).mean()  # noqa: E731
    assert jump(outs["guided"]) > 1.5 * jump(outs["resize"])
    result = run_cli("folder", photo_dir, tmp_path / "cli", "--style", "samples/style/stained_glass.png",
                     "--upscale", "sideways")
    assert result.exit_code == 2


def test_video_keep_size_guided_brings_back_the_sources_detail(tmp_path):
    """With a stylizer that changes nothing, the guided output at source size is closer to the source frames
    than the plain resize (the bright square's edges come back); both have the source's size and frames."""
    from pipeline.io.video import decode_frames, probe
    from tests.helpers import Identity, psnr, run
    from tests.videos import make_video

    src = make_video(tmp_path / "src.mp4", frames=6, size=(128, 96), audio=None, lossless=True)
    inputs = [f.image for f in decode_frames(probe(src))]
    scores = {}
    for mode in ("guided", "resize"):
        dst = tmp_path / f"{mode}.mp4"
        opts = VideoOptions(size=48, keep_size=True, upscale=mode, temporal=TemporalOptions(mode="off"),
                            encode=EncodeOptions(crf=0, pix_fmt="yuv444p"))
        assert run(Identity(), [(src, dst)], opts).count("processed") == 1
        outputs = [f.image for f in decode_frames(probe(dst))]
        assert len(outputs) == 6 and outputs[0].shape == (96, 128, 3)
        scores[mode] = np.mean([psnr(a, b) for a, b in zip(inputs, outputs)])
    assert scores["guided"] > scores["resize"] + 3, scores


@pytest.fixture(scope="module")
def trained():
    """The shipped decoder at a tiny style size: --upscale decode is about where its strokes and edges go."""
    return make_stylizer(None, size=64)


def test_upsample_features_keeps_a_grid_of_the_same_size_and_scales_the_rest():
    from pipeline.ops.upsample import upsample_features

    feats = torch.rand(2, 5, 6, 8)
    assert torch.equal(upsample_features(feats, (48, 64), (48, 64), (6, 8)), feats)
    # 44 x 64 work (padded to 48: 6 rows), 88 x 128 source (padded 88: 11 rows): scaled x2, cut to the grid.
    big = upsample_features(feats, (44, 64), (88, 128), (11, 16))
    assert big.shape == (2, 5, 11, 16)
    assert torch.allclose(big, F.interpolate(feats, size=(12, 16), mode="bilinear")[..., :11, :])


def test_decode_at_source_is_the_plain_stylizer_at_equal_size_and_the_same_whatever_the_batch(trained):
    from pipeline.upscale import decode_at_source

    source = torch.rand(2, 3, 48, 64)
    work = F.interpolate(source, size=(24, 32), mode="area")
    assert torch.equal(decode_at_source(trained, work[:1], work[:1]), trained(work[:1]).clamp(0, 1))
    both = decode_at_source(trained, work, source)
    assert both.shape == (2, 3, 48, 64) and 0 <= both.min() and both.max() <= 1
    assert torch.equal(both[1:], decode_at_source(trained, work[1:], source[1:]))  # alone as in a batch


def test_decode_keeps_the_step_edge_and_only_photos_take_it(tmp_path, photo_dir, trained):
    from pipeline.errors import OptionError
    from pipeline.jobs.folder import plan_folder, run_folder
    from pipeline.options import FolderOptions

    outs = {}
    for mode in ("decode", "guided", "resize"):
        tasks, _ = plan_folder(photo_dir, tmp_path / mode)
        run_folder(trained, tasks, FolderOptions(size=64, keep_size=True, batch_size=1, upscale=mode))
        outs[mode] = np.asarray(Image.open(tmp_path / mode / "edge.png")).astype(float)
    assert outs["decode"].shape == (120, 160, 3)
    jump = lambda o: np.abs(np.diff(o[10:-10, 76:84].mean(2), axis=1)).max(1).mean()  # noqa: E731
    assert jump(outs["decode"]) > 1.5 * jump(outs["resize"]), {m: jump(o) for m, o in outs.items()}
    # Finer strokes: more pixel-scale detail away from the edge than the guided result (24.6 against 22.0).
    fine = lambda o: np.abs(np.diff(o[10:-10, 10:60], axis=1)).mean()  # noqa: E731
    assert fine(outs["decode"]) > 1.05 * fine(outs["guided"]), {m: fine(o) for m, o in outs.items()}
    with pytest.raises(OptionError, match="decode"):
        VideoOptions(keep_size=True, upscale="decode")


def test_api_decode_gives_the_contents_size_and_the_jobs_pixels(trained):
    from pipeline.api import ImageStylizer
    from pipeline.ops.resize import resize_long_side
    from pipeline.upscale import decode_at_source

    content = torch.rand(3, 64, 80)
    out = ImageStylizer(trained, 40, keep_size=True, upscale="decode")(content)
    assert out.shape == (3, 64, 80)
    assert torch.equal(out, decode_at_source(trained, resize_long_side(content[None], 40), content[None])[0])
