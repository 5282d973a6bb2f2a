"""The Gatys knobs the papers run with: average pooling, snapshots every N iterations, where the optimisation
starts (also for video keyframes), coarse-to-fine scales at work sizes too small for all of them, and the
penalty that keeps L-BFGS's image inside [0, 1]."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from pipeline.build import load_style_images
from pipeline.gatys import GatysLoss, GatysStylizer, spans, style_targets, usable_scales
from pipeline.jobs.folder import load_task
from pipeline.jobs.folder_plan import Task
from pipeline.metrics import style_loss
from pipeline.models.vgg import VGGEncoder
from pipeline.options import GatysOptions
from tests.conftest import SAMPLES
from tests.helpers import STYLE_PATH, one_error_line, psnr, run_cli
from tests.videos import make_video, read_video

PLAIN = ("--no-calibrate", "--precision", "fp32", "--device", "cpu", "--adapt", "0")
PHOTO = SAMPLES / "content" / "coffee.jpg"  # a real photo, 64x43 at --size 64


def _pixels(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]


def test_average_pooling_replaces_every_pool_and_shares_the_weights(encoder):
    avg = encoder.with_pooling("avg")
    pools = [(m, a) for m, a in zip(encoder.features, avg.features) if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 4  # relu5_1 lies after four pools
    for m, a in pools:
        assert type(a) is nn.AvgPool2d and (a.kernel_size, a.stride, a.ceil_mode) == (m.kernel_size, m.stride,
                                                                                      m.ceil_mode)
    assert avg.features[0].weight is encoder.features[0].weight  # not copied
    assert encoder.with_pooling("max") is encoder and avg.with_pooling("avg") is avg
    assert isinstance(VGGEncoder("relu2_1", pooling="avg").features[4], nn.AvgPool2d)
    image = torch.rand(1, 3, 32, 32)
    a1, a2 = avg(image, ("relu1_1", "relu2_1"))
    m1, m2 = encoder(image, ("relu1_1", "relu2_1"))
    assert torch.equal(a1, m1) and not torch.allclose(a2, m2)  # same before the first pool, not after
    # relu2_1 of the average-pooled net is the convolution of relu1_2 averaged over 2x2 windows
    relu1_2 = encoder(image, ("relu1_1",))[0]
    relu1_2 = encoder.features[3](encoder.features[2](relu1_2))
    expected = encoder.features[6](encoder.features[5](F.avg_pool2d(relu1_2, 2)))
    assert torch.allclose(a2, expected, atol=1e-4)


def test_scales_that_would_go_under_the_networks_smallest_size_are_dropped():
    assert usable_scales((48, 64), 2, 32) == 1  # 24 px at the coarse level: relu5_1 would be 1 px
    assert usable_scales((64, 64), 2, 32) == 2
    assert usable_scales((256, 300), 5, 32) == 4
    assert usable_scales((20, 20), 3, 32) == 1
    assert spans(0, 10, 4) == [4, 4, 2] and spans(4, 6, 4) == [4, 2] and spans(0, 7, 0) == [7]


def test_scales_2_at_a_small_work_size_warns_once_and_runs(tmp_path):
    # Before: "stylize failed: Argument #6: Padding size should be less than the corresponding input dimension,
    # but got: padding (1, 1) at dimension 2 of input [1, 512, 1, 2]" (this photo at 64x43, coarse level 32x21).
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "coffee.jpg").write_bytes(PHOTO.read_bytes())
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--size", "64",
                     "--method", "gatys", "--scales", "2", "--iterations", "2", *PLAIN)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "--scales 2" in line]
    assert len(warnings) == 1 and "32 px" in warnings[0] and "using 1" in warnings[0], result.stderr
    assert Image.open(tmp_path / "out" / "coffee.jpg").size == (64, 43)


@pytest.mark.parametrize("args, expected", [
    (("--method", "gatys", "--save-every", "5"), "--save-every needs --snapshot-dir"),
    (("--method", "gatys", "--snapshot-dir", "snaps"), "--snapshot-dir needs --save-every"),
    (("--pooling", "avg"), "--pooling is for the Gatys optimisation"),
    (("--range-weight", "0"), "--range-weight is for the Gatys optimisation"),
])
def test_knobs_given_wrongly_are_one_line_and_exit_2(tmp_path, args, expected):
    (tmp_path / "in").mkdir()
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, *args, *PLAIN)
    assert result.exit_code == 2 and expected in one_error_line(result.stderr)
    assert not (tmp_path / "out").exists()


def test_snapshots_appear_every_n_iterations_and_their_loss_falls(tmp_path, encoder):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "coffee.jpg").write_bytes(PHOTO.read_bytes())
    snaps = tmp_path / "snaps"
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--size", "64",
                     "--method", "gatys", "--pooling", "avg", "--iterations", "3", "--save-every", "1",
                     "--snapshot-dir", snaps, "--ext", "png", *PLAIN)
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in snaps.iterdir())
    assert names == ["coffee_iter0001.png", "coffee_iter0002.png", "coffee_iter0003.png", "coffee_snapshots.json"]
    records = json.loads((snaps / "coffee_snapshots.json").read_text())["snapshots"]
    assert [r["iteration"] for r in records] == [1, 2, 3]
    last = np.asarray(Image.open(snaps / "coffee_iter0003.png"))
    assert np.array_equal(last, np.asarray(Image.open(tmp_path / "out" / "coffee.png")))  # the last is the output
    # Recomputed from the PNGs: the run's own objective (style + content, in the avg-pooled, reflection-padded
    # VGG the run used) and the AdaIN-protocol style loss of pipeline/metrics.py both fall.
    style = load_style_images([STYLE_PATH], 64)[0]
    net = encoder.reflect_padded().with_pooling("avg")
    content = torch.from_numpy(load_task(Task(PHOTO, tmp_path / "x.png"), 64).work).permute(2, 0, 1)[None]
    loss = GatysLoss(net, content, style_targets(net, [style], torch.ones(1)), GatysOptions())
    images = [_pixels(snaps / r["file"]) for r in records]
    with torch.no_grad():
        totals = [loss(x)[1]["total"] for x in images]
    assert totals[0] > totals[1] > totals[2], totals
    assert totals == pytest.approx([r["total"] for r in records], rel=0.05)  # the sidecar tells the truth
    styles = [style_loss(encoder, x, style).item() for x in images]
    assert styles[0] > styles[1] > styles[2], styles


def test_the_range_penalty_lowers_the_loss_of_the_clamped_result(tmp_path, encoder):
    """Without it L-BFGS leaves pixels outside [0, 1] and the final clamp undoes part of its work: the result,
    scored by the objective without the penalty, ends lower with the default ``--range-weight``."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "coffee.jpg").write_bytes(PHOTO.read_bytes())
    outputs = {}
    for weight in ("0", "1000"):
        out = tmp_path / weight
        result = run_cli("folder", tmp_path / "in", out, "--style", STYLE_PATH, "--size", "64", "--method", "gatys",
                         "--iterations", "20", "--range-weight", weight, "--ext", "png", *PLAIN)
        assert result.exit_code == 0, result.stderr
        assert "; Gatys float32 features" in result.stderr  # --precision fp32: the summary says so
        outputs[weight] = _pixels(out / "coffee.png")
    style = load_style_images([STYLE_PATH], 64)[0]
    net = encoder.reflect_padded()
    content = torch.from_numpy(load_task(Task(PHOTO, tmp_path / "x.png"), 64).work).permute(2, 0, 1)[None]
    loss = GatysLoss(net, content, style_targets(net, [style], torch.ones(1)), GatysOptions(range_weight=0))
    with torch.no_grad():
        scores = {weight: loss(x)[1]["total"] for weight, x in outputs.items()}
    assert scores["1000"] < 0.98 * scores["0"], scores  # 10.85 against 11.22 when written


def test_images_under_the_nets_smallest_side_are_optimised_with_a_border_and_cropped_back(tmp_path):
    """VGG-19 to relu5_1 with reflection padding takes 32 px a side: a smaller photo (or a 1 px line) used
    to fail with "Padding size should be less than the corresponding input dimension"; now it is optimised
    padded (its loss falls) and comes back at its own size, snapshots too."""
    (tmp_path / "in").mkdir()
    Image.open(PHOTO).convert("RGB").crop((0, 0, 24, 16)).save(tmp_path / "in" / "small.png")
    Image.open(PHOTO).convert("RGB").crop((0, 0, 40, 1)).save(tmp_path / "in" / "line.png")
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--size", "64",
                     "--method", "gatys", "--iterations", "12", "--save-every", "6", "--snapshot-dir",
                     tmp_path / "snaps", "--ext", "png", *PLAIN)
    assert result.exit_code == 0, result.stderr
    for name, size in (("small", (24, 16)), ("line", (40, 1))):
        out, src = _pixels(tmp_path / "out" / f"{name}.png"), _pixels(tmp_path / "in" / f"{name}.png")
        assert out.shape == src.shape and not torch.equal(out, src), name
        assert Image.open(tmp_path / "snaps" / f"{name}_iter0006.png").size == size
        records = json.loads((tmp_path / "snaps" / f"{name}_snapshots.json").read_text())["snapshots"]
        assert records[0]["total"] > records[1]["total"], records


def test_keyframes_of_a_video_under_the_nets_smallest_side_are_refined(tmp_path):
    """A 16x16 clip with Gatys keyframes (the warped previous frame and its mask padded with the frame)
    ended in a traceback; now every frame comes out at its size, at its time."""
    clip = make_video(tmp_path / "tiny.mp4", frames=6, size=(16, 16), audio=None)
    result = run_cli("video", clip, tmp_path / "out.mp4", "--style", STYLE_PATH, "--refine-every", "2",
                     "--iterations", "3", *PLAIN)
    assert result.exit_code == 0, result.stderr
    source, out = read_video(clip), read_video(tmp_path / "out.mp4")
    assert out["frames"] == 6 and out["size"] == (16, 16) and out["pts"] == source["pts"]


def test_init_picks_the_start(encoder):
    style = load_style_images([STYLE_PATH], 64)[0]
    stylizer = SimpleNamespace(device=torch.device("cpu"), dtype=torch.float32, encoder=encoder, styles=[style],
                               weights=torch.ones(1))
    content = torch.rand(1, 3, 40, 56)
    starts = {init: GatysStylizer(stylizer, GatysOptions(init=init)).start(content)
              for init in ("content", "noise", "style")}
    assert starts["content"] is content
    assert starts["noise"].shape == content.shape and abs(starts["noise"].mean().item() - 0.5) < 0.05
    resized = F.interpolate(style, size=(40, 56), mode="bilinear", antialias=True)
    assert torch.allclose(starts["style"], resized)


def test_video_keyframes_honour_init_and_write_snapshots_named_by_frame(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", frames=4, size=(64, 48), audio=None)
    snaps = tmp_path / "snaps"
    result = run_cli("video", clip, tmp_path / "out.mp4", "--style", STYLE_PATH, "--size", "64", "--temporal", "off",
                     "--refine-every", "2", "--iterations", "2", "--init", "noise", "--scales", "2",
                     "--save-every", "1", "--snapshot-dir", snaps, *PLAIN)
    assert result.exit_code == 0, result.stderr
    assert sum("--scales 2" in line for line in result.stderr.splitlines()) == 1
    frames = [f"out_f00000{k}_iter000{i}.png" for k in (0, 2) for i in (1, 2)]  # keyframes 0 and 2
    assert sorted(p.name for p in snaps.glob("*.png")) == frames
    source = read_video(clip)["images"][0]
    first = np.asarray(Image.open(snaps / "out_f000000_iter0001.png"))
    assert first.shape == source.shape and psnr(first, source) < 15  # started from noise, not the frame
