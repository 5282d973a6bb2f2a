"""The torch optical flow and scene cuts (pipeline/ops/flow.py, pipeline/ops/scene_cuts.py, the torch backend of
temporal/flow.py): OpenCV's convention, endpoint error against OpenCV DIS on pairs with a known motion,
OpenCV's cut decisions, and ``--flow torch`` through the video job."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.jobs.video import Media
from pipeline.io.video import decode_frames, probe
from pipeline.metrics import warping_error
from pipeline.ops.flow import forward_backward, optical_flow, photometric_fit
from pipeline.ops.scene_cuts import correlations, hue_sat_histograms
from pipeline.options import FlowBackend, TemporalOptions, VideoOptions
from pipeline.ops.warp import flow_confidence
from pipeline.temporal.flow import FlowEstimator, TorchFlowEstimator, colour_hist, hists_cut, make_flow_estimator
from tests.conftest import DATA, SAMPLES
from tests.helpers import Recorder, make_stylizer, run, run_cli

HW = (128, 192)
MARGIN = 6  # pixels left out at each edge: content there leaves the frame


@pytest.fixture(scope="module")
def source() -> torch.Tensor:
    """A real photo's grey texture, (1, 1, H, W) in [0, 1], sampled by the cases below."""
    image = Image.open(SAMPLES / "content" / "astronaut.jpg").convert("L")
    image = image.resize((400, 400 * image.height // image.width))
    return torch.from_numpy(np.asarray(image, np.float32) / 255)[None, None]


def _grid() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(HW[0], dtype=torch.float32), torch.arange(HW[1], dtype=torch.float32),
                            indexing="ij")
    return torch.stack([xs, ys])


def _sample(src: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """``src`` at pixel positions ``pos`` (2, h, w), bicubic, quantised to 8 bits as decoded frames are."""
    h, w = src.shape[-2:]
    grid = torch.stack([2 * pos[0] / (w - 1) - 1, 2 * pos[1] / (h - 1) - 1], -1)[None]
    out = F.grid_sample(src, grid, mode="bicubic", padding_mode="border", align_corners=True).clamp(0, 1)
    return (out * 255 + 0.5).floor() / 255


def _vec(x: float, y: float) -> torch.Tensor:
    return torch.tensor([x, y], dtype=torch.float32).view(2, 1, 1)


def _case(src: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first, second, true flow first -> second) for a motion with a known answer."""
    p, origin = _grid(), _vec(60, 50)
    if name.startswith("shift"):
        d = {"shift_int": _vec(3, -2), "shift_sub": _vec(1.5, 0.7), "shift_far": _vec(9, 6)}[name]
        return _sample(src, p + origin), _sample(src, p + origin - d), d.expand(2, *HW)[None]
    if name == "rotate":  # 3 degrees about the centre
        c, a = _vec((HW[1] - 1) / 2, (HW[0] - 1) / 2), math.radians(3)
        rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        moved = torch.einsum("ij,jhw->ihw", rot, p - c) + c
        back = torch.einsum("ij,jhw->ihw", rot.T, p - c) + c
        return _sample(src, p + origin), _sample(src, back + origin), (moved - p)[None]
    # A 40 px square of another texture moving (5, 3) over a background panning (1, 0).
    top, ground, square = _vec(40, 30), _vec(1, 0), _vec(5, 3)

    def frame(bg: torch.Tensor, sq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rel = p - top - sq
        inside = ((rel >= 0) & (rel < 40)).all(0).float()
        square_texture = _sample(src.flip(-1), rel + _vec(250, 150))
        return _sample(src, p + origin - bg) * (1 - inside) + square_texture * inside, inside

    first, inside = frame(torch.zeros(2, 1, 1), torch.zeros(2, 1, 1))
    return first, frame(ground, square)[0], (ground * (1 - inside) + square * inside)[None]


def _epe(flow: torch.Tensor, truth: torch.Tensor) -> float:
    error = (flow - truth).pow(2).sum(1).sqrt()
    return float(error[..., MARGIN:-MARGIN, MARGIN:-MARGIN].mean())


def _dis(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """OpenCV DIS (the default backend's preset) on the same 8-bit frames, as a (1, 2, H, W) flow."""
    gray = [np.ascontiguousarray((t[0, 0].numpy() * 255).round().astype(np.uint8)) for t in (first, second)]
    return torch.from_numpy(FlowEstimator().dis.calc(*gray, None)).permute(2, 0, 1)[None]


@pytest.mark.parametrize("name", ["shift_int", "shift_sub", "shift_far", "rotate", "square"])
def test_endpoint_error_within_dis(source, name):
    first, second, truth = _case(source, name)
    epe_torch, epe_dis = _epe(optical_flow(first, second), truth), _epe(_dis(first, second), truth)
    assert epe_torch <= 1.10 * epe_dis + 0.01, (epe_torch, epe_dis)


def test_photometric_fit_flags_a_flow_that_misses_a_moving_part(source):
    """The moving square with its true backward flow lines up (fit near 1); with the background's motion
    everywhere (smooth, and the same forwards and backwards, so the forward-backward test passes it) the square
    does not, and the torch backend's confidence drops there while the background keeps it."""
    first, second, _ = _case(source, "square")
    true_bwd = _vec(-1, 0).expand(2, *HW).clone()
    true_bwd[:, 33:73, 45:85] = _vec(-5, -3)  # the square's place in the second frame
    true_bwd, smooth_bwd = true_bwd[None], _vec(-1, 0).expand(2, *HW)[None].contiguous()
    inner = (slice(None), slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    assert photometric_fit(first, second, true_bwd)[inner].mean() > 0.9
    fit = photometric_fit(first, second, smooth_bwd)
    square, ground = (..., slice(36, 70), slice(48, 82)), (..., slice(90, -MARGIN), slice(MARGIN, 40))
    assert fit[square].mean() < 0.3 and fit[ground].mean() > 0.9
    _, conf = TorchFlowEstimator.backward_and_mask(-smooth_bwd, smooth_bwd, fit, HW, soft=True)
    assert torch.equal(flow_confidence(-smooth_bwd, smooth_bwd)[square], torch.ones_like(conf[square]))
    assert conf[square].mean() < 0.3 and conf[ground].mean() > 0.9


def test_convention_is_opencvs(source):
    """Both map a pixel of the first frame to where it went in the second: content moving by (+3, -2)."""
    first, second, _ = _case(source, "shift_int")
    for flow in (optical_flow(first, second), _dis(first, second)):
        inner = flow[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
        assert inner[:, 0].median() == pytest.approx(3, abs=0.15)
        assert inner[:, 1].median() == pytest.approx(-2, abs=0.15)


def test_pairs_are_independent_of_their_batch(source):
    """Forward and backward of several pairs in one call give each pair's flows alone (lanes batch frames
    differently), and for a shift the backward flow is the forward one reversed."""
    pairs = [_case(source, name)[:2] for name in ("shift_int", "rotate")]
    fwd, bwd = forward_backward(torch.cat([a for a, _ in pairs]), torch.cat([b for _, b in pairs]))
    alone = optical_flow(pairs[1][1], pairs[1][0])
    assert torch.equal(bwd[1:], alone)
    inner = (slice(None), slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    assert (fwd[:1] + bwd[:1])[inner].abs().mean() < 0.1


def test_autocast_keeps_float32(source):
    """Under autocast the flow is still computed in float32: the same flow, and from bf16 frames (8 bits of
    mantissa: the frames themselves change by up to half a grey level) nearly the same."""
    first, second, _ = _case(source, "shift_sub")
    plain = optical_flow(first, second)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        same = optical_flow(first, second)
        low = optical_flow(first.bfloat16(), second.bfloat16())
    assert same.dtype == low.dtype == torch.float32 and torch.equal(same, plain)
    assert (low - plain).abs().mean() < 0.01


@pytest.mark.cuda
def test_on_cuda_as_on_the_cpu(source):
    """On CUDA, under bf16 autocast as the networks run: the CPU's flow (float32 inside), and cues that stay on
    the device."""
    first, second, truth = _case(source, "rotate")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        flow = optical_flow(first.cuda(), second.cuda())
    assert flow.is_cuda and flow.dtype == torch.float32
    assert (flow.cpu() - optical_flow(first, second)).abs().mean() < 0.01
    guides = TorchFlowEstimator().guides(torch.rand(3, 3, 72, 128, device="cuda"))
    assert all(g.gray.is_cuda and g.hist.is_cuda for g in guides)


def _rgb(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def _frames(clip: str, frames: int = 12) -> list[np.ndarray]:
    """The first frames of a real clip at 160 px wide (the cut test needs no more)."""
    images = [f.image for f in decode_frames(probe(DATA / "video" / clip), max_frames=frames)]
    return [cv2.resize(im, (160, 160 * im.shape[0] // im.shape[1]), interpolation=cv2.INTER_AREA) for im in images]


def test_histograms_match_opencv():
    """On a 64 x 64 frame (no resize) the bins are OpenCV's, up to a pixel moved by the rounding of a hue."""
    image = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), (0, 0), 1)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    counts = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).flatten()
    ours = hue_sat_histograms(_rgb(image))[0].numpy()
    assert ours.sum() == 64 * 64 and np.abs(ours - counts).max() <= 1 and np.abs(ours - counts).sum() <= 8


@pytest.mark.data
def test_cut_decisions_match_opencv():
    """Every consecutive pair of real clips (no cut in them), and the first frames of each two clips spliced
    (hard cuts, but for similar colours): the same decisions, and nearly the same correlations."""
    clips = [_frames(name) for name in ("cutBunny.mp4", "davis_bear.mp4", "slow_traffic_5s.mp4", "teddy_phone.mp4")]
    pairs = [(a, b) for frames in clips for a, b in zip(frames, frames[1:])]
    pairs += [(x[0], cv2.resize(y[0], x[0].shape[1::-1])) for i, x in enumerate(clips) for y in clips[i + 1:]]
    opencv = [cv2.compareHist(colour_hist(a), colour_hist(b), cv2.HISTCMP_CORREL) for a, b in pairs]
    hists = [hue_sat_histograms(torch.cat([_rgb(a), _rgb(b)])) for a, b in pairs]
    ours = correlations(torch.stack([h[0] for h in hists]), torch.stack([h[1] for h in hists])).numpy()
    assert (ours < 0.5).tolist() == [c < 0.5 for c in opencv] and sum(c < 0.5 for c in opencv) >= 3
    assert np.abs(ours - opencv).max() < 0.03


def test_synthetic_hard_cut():
    rng = np.random.default_rng(1)
    a = cv2.GaussianBlur(rng.integers(0, 256, (72, 128, 3), dtype=np.uint8), (0, 0), 3)
    b = a.copy()
    b[..., 0] = 230
    flow = TorchFlowEstimator()
    guides = flow.guides(torch.cat([_rgb(a), _rgb(np.roll(a, 4, axis=1)), _rgb(b)]))
    assert flow.cuts([None, *guides[:-1]], guides, 0.5) == [True, False, True]
    assert [hists_cut(colour_hist(x), colour_hist(y)) for x, y in ((a, np.roll(a, 4, axis=1)), (a, b))] == [False, True]


def test_backend_choice():
    assert isinstance(make_flow_estimator(FlowBackend.AUTO, torch.device("cpu")), FlowEstimator)
    assert isinstance(make_flow_estimator(FlowBackend.TORCH, torch.device("cpu")), TorchFlowEstimator)
    assert isinstance(make_flow_estimator(FlowBackend.AUTO, torch.device("cuda")), TorchFlowEstimator)
    assert TemporalOptions(flow="torch").flow is FlowBackend.TORCH


def test_flow_option_is_checked_by_the_cli(tmp_path):
    result = run_cli("video", tmp_path / "in.mp4", tmp_path / "out.mp4", "-s", "x.jpg", "--flow", "farneback")
    assert result.exit_code == 2 and "farneback" in result.output


def test_video_with_torch_flow(tmp_path, random_decoder_file):
    """``--flow torch`` through the video job on a real pan: every frame comes out, as steady as with the
    OpenCV backend (warping error of the output, measured with DIS for both)."""
    stylizer = make_stylizer(random_decoder_file, size=64)
    src = SAMPLES / "video" / "astronaut_pan.mp4"
    inputs = [f.image for f in decode_frames(probe(src), max_frames=8)]
    errors = {}
    for backend in ("opencv", "torch"):
        sink = Recorder()
        opts = VideoOptions(size=64, batch_size=4, parallel=1, max_frames=8, temporal=TemporalOptions(flow=backend))
        run(stylizer, [(src, tmp_path / f"{backend}.mp4")], opts, Media(sink=sink))
        assert sorted(sink.frames) == list(range(8))
        errors[backend] = warping_error(inputs, sink.ordered())
    assert errors["torch"] <= 1.1 * errors["opencv"], errors
