"""Flow, warping, occlusion masks, scene cuts, temporal smoothing and Gatys optimisation."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from pipeline.gatys import GatysOptions, gatys, style_targets
from pipeline.metrics import warping_error
from pipeline.ops.warp import occlusion_mask, warp
from pipeline.options import TemporalOptions
from pipeline.build import load_style_images
from pipeline.temporal.flow import FlowEstimator, is_scene_cut
from pipeline.temporal.stabilizer import Stabilizer, TemporalState
from tests.conftest import ROOT, SAMPLES
from tests.helpers import make_stylizer

SHIFT = 6


def _texture(h=120, w=180, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.uint8), (9, 9), 2.5)


def _shifted_pair():
    """Content moving right by SHIFT px: the current frame's left band is new."""
    base = _texture(w=200)
    return base[:, 20:180], base[:, 20 - SHIFT:180 - SHIFT]


def test_flow_recovers_a_known_shift_and_warp_aligns_frames():
    prev, cur = _shifted_pair()
    backward, _ = FlowEstimator().backward_with_mask(prev, cur, cur.shape[:2])
    interior = backward[0, :, 15:-15, 15:-15]
    assert interior[0].median().item() == pytest.approx(-SHIFT, abs=0.3)
    assert interior[1].median().item() == pytest.approx(0.0, abs=0.3)
    aligned = warp(torch.from_numpy(prev).permute(2, 0, 1)[None].float(), backward)[0].permute(1, 2, 0).numpy()
    before = np.abs(prev.astype(float) - cur)[:, SHIFT + 4:-4].mean()
    after = np.abs(aligned - cur)[:, SHIFT + 4:-4].mean()
    assert after < 0.15 * before


# Run in a process of its own: the failure it guards against killed the process, not a test
_NARROW_FLOWS = """
import json, sys
import numpy as np
from pipeline.temporal.flow import FlowEstimator
from tests.test_temporal import _texture
out = {}
for h, w in json.loads(sys.argv[1]):
    base = _texture(h, w + 2)[..., 0]
    first, second = np.ascontiguousarray(base[:, 2:]), np.ascontiguousarray(base[:, :-2])
    forward, backward = FlowEstimator().small_flows(first, second)
    assert forward.shape == backward.shape == (h, w, 2)
    out[f"{h}x{w}"] = float(np.median(forward[h // 4:-(h // 4) or None, w // 4:-(w // 4), 0]))
print(json.dumps(out))
"""


def test_flow_on_small_and_narrow_frames_neither_crashes_nor_loses_the_motion():
    """Before: OpenCV's DIS read past frames whose short side is small for their long side and the process died
    (a 256x80 GNOME help video at --size 96, whose flow frames are 96x30; a 10:1 banner at 320x32 is fine)."""
    shapes = [(30, 96), (12, 48), (8, 8), (16, 96), (31, 320), (96, 30)]
    done = subprocess.run([sys.executable, "-c", _NARROW_FLOWS, json.dumps(shapes)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    shifts = json.loads(done.stdout)
    assert shifts["30x96"] == pytest.approx(2.0, abs=0.5) and shifts["96x30"] == pytest.approx(2.0, abs=0.5), shifts


def test_warp_by_hand():
    image = torch.arange(12.0).reshape(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out = warp(image, flow)
    assert torch.allclose(out[0, 0, :, :3], image[0, 0, :, 1:])


def test_occlusion_mask_flags_the_uncovered_band():
    prev, cur = _shifted_pair()
    _, mask = FlowEstimator().backward_with_mask(prev, cur, cur.shape[:2])
    assert mask[0, 0, :, : SHIFT - 1].mean().item() < 0.1  # entered from the left: nothing to warp from
    assert mask[0, 0, 10:-10, SHIFT + 10: -10].mean().item() > 0.9


def test_occlusion_mask_rejects_inconsistent_flow():
    forward = torch.zeros(1, 2, 8, 8)
    backward = torch.zeros(1, 2, 8, 8)
    backward[:, 0, :, 4:] = -2.0  # a moving block whose forward flow says it stood still
    mask = occlusion_mask(forward, backward)
    assert mask[0, 0, :, :3].min() == 1 and mask[0, 0, :, 5:].max() == 0


def test_scene_cut_detection():
    a = _texture(seed=0)
    b = np.zeros_like(a)
    b[..., 2] = 200  # a blue frame
    assert not is_scene_cut(a, np.roll(a, 3, axis=1))
    assert is_scene_cut(a, b)


@pytest.fixture(scope="module")
def stylizer(random_decoder_file):
    return make_stylizer(random_decoder_file, size=128)


def _clip(frames=8, step=3):
    base = _texture(h=64, w=64 + step * frames)
    return [base[:, i * step:i * step + 64] for i in range(frames)]


def _batch(frames):
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255


def _step(stabilizer, state, frames):
    """One batch through ``stabilizer.step`` with the cues made on the host, as the video job makes them."""
    guides = [stabilizer.flow.guide(f, f.shape[:2]) for f in frames]
    return stabilizer.step(state, _batch(frames), guides)


def _run(stylizer, clip, opts):
    stabilizer = Stabilizer(stylizer, opts)
    state, outs = TemporalState(), []
    for i in range(0, len(clip), 3):
        out, state = _step(stabilizer, state, clip[i:i + 3])
        outs.append(out)
    stabilizer.close()
    return [(o.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8) for o in torch.cat(outs)]


def test_temporal_smoothing_lowers_warping_error(stylizer):
    clip = _clip()
    plain = warping_error(clip, _run(stylizer, clip, TemporalOptions(mode="off")))
    full = warping_error(clip, _run(stylizer, clip, TemporalOptions(mode="full", strength=0.5)))
    assert full < 0.5 * plain


def test_still_content_is_blended_more(stylizer):
    """A still shot with sensor noise flickers; where nothing moves the blend can go further and averages
    more of the flicker away."""
    base = _texture(h=64, w=64).astype(float)
    rng = np.random.default_rng(0)
    clip = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    errors = {s: warping_error(clip, _run(stylizer, clip, TemporalOptions(mode="warp", strength=0.5,
                                                                          still_strength=s)))
              for s in (0.5, 0.8)}
    assert errors[0.8] < 0.8 * errors[0.5], errors


def test_scene_cut_resets_state(stylizer):
    clip = _clip(frames=4)
    cut = np.zeros_like(clip[0])
    cut[..., 0] = 220
    stabilizer = Stabilizer(stylizer, TemporalOptions(mode="full"))
    _, state = _step(stabilizer, TemporalState(), clip)
    assert state.output is not None and state.stats is not None and state.since_key == 4
    after_cut, _ = _step(stabilizer, state, [cut])
    fresh, _ = _step(stabilizer, TemporalState(), [cut])
    assert torch.allclose(after_cut, fresh, atol=1e-5)  # nothing of the previous shot leaks in
    stabilizer.close()


def test_state_is_passed_in_and_returned(stylizer):
    """The stabilizer keeps no state: the same state and frames give the same frames, the state handed in is
    never changed, and the returned one carries the last frame."""
    clip = _clip(frames=6)
    stabilizer = Stabilizer(stylizer, TemporalOptions(mode="full"))
    _, state = _step(stabilizer, TemporalState(), clip[:3])
    kept = (state.output.clone(), state.stats[0].clone(), state.since_key)
    first, after = _step(stabilizer, state, clip[3:])
    again, _ = _step(stabilizer, state, clip[3:])
    assert torch.equal(first, again)
    assert torch.equal(state.output, kept[0]) and torch.equal(state.stats[0], kept[1]) and state.since_key == kept[2]
    assert torch.equal(after.output, first[-1:]) and after.since_key == 6
    whole, _ = _step(stabilizer, TemporalState(), clip)  # batch composition: the same frames in one batch
    assert torch.allclose(whole[3:], first, atol=1e-4)
    stabilizer.close()


def test_cues_from_source_frames_match_cues_from_work_frames():
    """On CUDA the flow's grey frames come from the decoded frames, resized on the host; they give the flow
    the work-size frames give, to a fraction of a pixel."""
    import cv2

    prev, cur = _shifted_pair()
    big = [cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2), interpolation=cv2.INTER_CUBIC) for f in (prev, cur)]
    flow = FlowEstimator()
    small = flow.small_flows(*(flow.guide(f, prev.shape[:2]).gray for f in (prev, cur)))[1]
    from_big = flow.small_flows(*(flow.guide(f, prev.shape[:2]).gray for f in big))[1]
    assert np.median(np.abs(small - from_big)[15:-15, 15:-15]) < 0.25


def test_gatys_lowers_its_loss(encoder):
    torch.manual_seed(0)
    content = torch.from_numpy(_texture(h=48, w=48, seed=1)).permute(2, 0, 1)[None].float() / 255
    style = load_style_images([SAMPLES / "style" / "stained_glass.png"], 64)[0]
    grams = style_targets(encoder, [style], torch.ones(1))
    for optimizer in ("lbfgs", "adam"):
        out, history = gatys(encoder, content, grams, GatysOptions(iterations=15, optimizer=optimizer, lr=0.03))
        totals = [h["total"] for h in history]
        assert totals[-1] < 0.5 * totals[0]
        assert sum(b <= a * 1.05 for a, b in zip(totals, totals[1:])) >= 0.8 * (len(totals) - 1)
        assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1


def test_gatys_coarse_to_fine_and_temporal_term(encoder):
    content = torch.from_numpy(_texture(h=64, w=64, seed=2)).permute(2, 0, 1)[None].float() / 255
    style = load_style_images([SAMPLES / "style" / "starry_night.jpg"], 64)[0]
    grams = style_targets(encoder, [style], torch.ones(1))
    target = torch.full_like(content, 0.5)
    opts = GatysOptions(iterations=10, scales=2, temporal_weight=1e4)
    out, history = gatys(encoder, content, grams, opts, temporal=(target, torch.ones(1, 1, 64, 64)))
    assert out.shape == content.shape
    assert "temporal" in history[-1]
    assert (out - target).abs().mean() < (content - target).abs().mean()  # pulled towards the warped frame
