"""Decoder training: the loss goes down, resume is exact, bad files are skipped, export round-trips."""

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.metrics import style_loss
from pipeline.models.decoder import load_decoder
from pipeline.models.vgg import load_encoder
from pipeline.ops.adain import adain
from pipeline.training.data import PairBatches, load_folders, new_painting, recolour
from pipeline.training.export import evaluation_lines, export_checkpoint
from pipeline.training.loop import (CHECKPOINT, LOG, TrainConfig, adain_losses, load_checkpoint, mix_styles,
                                    train)
from tests.helpers import gradient_image


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    (root / "content" / "nested").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(gradient_image(48 + 8 * i, 40, seed=i)).save(root / "content" / f"c{i}.png")
    Image.fromarray(gradient_image(40, 56, seed=9)[..., 0]).save(root / "content" / "nested" / "grey.png")
    (root / "content" / "broken.jpg").write_text("no")
    Image.fromarray(gradient_image(8, 8)).save(root / "content" / "tiny.png")
    (root / "style").mkdir()
    for i in range(3):
        stripes = np.zeros((48, 48, 3), np.uint8)
        stripes[:, (np.arange(48) // (3 + i)) % 2 == 0] = rng.integers(0, 255, 3)
        Image.fromarray(stripes).save(root / "style" / f"s{i}.png")
    return root


def _config(data, out, iterations, **kw):
    return TrainConfig(content_dirs=[data / "content"], style_dirs=kw.pop("style_dirs", [data / "style"]), out=out, iterations=iterations,
                       batch_size=2, crop=32, lr=1e-3, precision="fp32", seed=3, save_every=2, **kw)


def _losses(out):
    with (out / LOG).open() as f:
        return [(int(r["iteration"]), float(r["content_loss"]), float(r["style_loss"])) for r in csv.DictReader(f)]


def test_loss_decreases_and_bad_files_are_skipped(data, tmp_path):
    skipped = []
    train(_config(data, tmp_path, 30), on_skip=skipped.append)
    assert len(skipped) == 2 and any("broken.jpg" in s for s in skipped) and any("too small" in s for s in skipped)
    rows = _losses(tmp_path)
    assert [r[0] for r in rows] == list(range(1, 31))
    total = [c + 10 * s for _, c, s in rows]
    assert np.mean(total[-5:]) < 0.5 * np.mean(total[:5])


def test_paper_l2_style_loss_trains_and_matches_the_metric(data, tmp_path):
    train(_config(data, tmp_path, 30, style_loss="l2", style_weight=1.0))
    rows = _losses(tmp_path)
    assert np.mean([s for _, _, s in rows[-5:]]) < 0.7 * np.mean([s for _, _, s in rows[:5]])
    with pytest.raises(ValueError, match="style loss 'gram'"):
        train(_config(data, tmp_path / "bad", 1, style_loss="gram"))

    # The l2 training loss is exactly the evaluation's style loss of the decoded output.
    encoder, decoder = load_encoder(last_layer="relu4_1"), load_decoder(None)
    content, style = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        _, loss = adain_losses(encoder, decoder, content, style.expand(2, -1, -1, -1), "l2")
        output = decoder(adain(encoder(content, ("relu4_1",))[0], encoder(style, ("relu4_1",))[0]))
        assert loss.item() == pytest.approx(style_loss(encoder, output, style).mean().item(), rel=1e-4)


def test_style_variants_keep_the_luma_and_change_the_colours():
    image = gradient_image(56, 40, seed=1)
    assert np.abs(recolour(image, 0.0, 1.0, 1.0).astype(int) - image).max() <= 1
    grey = np.full((4, 4, 3), 100, np.uint8)
    assert np.abs(recolour(grey, 2.0, 1.4, 1.0).astype(int) - 100).max() <= 1
    red = recolour(np.array([[[180, 40, 40]]], np.uint8), np.pi, 1.0, 1.0)[0, 0].astype(int)
    assert red[1] > red[0] + 50 and red[2] > red[0] + 50  # the opposite hue: cyan
    luma = np.array([0.299, 0.587, 0.114])
    turned = recolour(image, 1.0, 0.8, 1.0)
    assert np.abs(turned @ luma - image @ luma).mean() < 1.5 and np.abs(turned.astype(int) - image).mean() > 5
    shapes = {new_painting(image, np.random.default_rng(seed)).shape for seed in range(12)}
    assert shapes == {(40, 56, 3), (56, 40, 3)}
    assert np.array_equal(new_painting(image, np.random.default_rng(5)), new_painting(image, np.random.default_rng(5)))


def test_style_mixing_interpolates_the_statistics_of_unchanged_batches():
    content = [gradient_image(48, 40, seed=i) for i in range(3)]
    style = [gradient_image(40, 56, seed=10 + i) for i in range(3)]
    plain, mixing = PairBatches(content, style, 4, 32, seed=1), PairBatches(content, style, 4, 32, seed=1, style_mix=0.5)
    weights = []
    for iteration in range(6):
        (c0, s0, w0), (c1, s1, w1) = plain[iteration], mixing[iteration]
        assert torch.equal(c0, c1) and torch.equal(s0, s1)  # an A/B run sees the same images
        assert torch.equal(w0, torch.ones(4))
        weights.append(w1)
    weights = torch.cat(weights)
    assert 4 <= int((weights < 1).sum()) <= 20 and bool((weights >= 0).all())

    mean, std = torch.tensor([1.0, 5.0]).reshape(2, 1, 1, 1), torch.tensor([2.0, 4.0]).reshape(2, 1, 1, 1)
    [(m, s)] = mix_styles([(mean, std)], torch.tensor([1.0, 0.25]))
    assert m.flatten().tolist() == [1.0, 2.0] and s.flatten().tolist() == [2.0, 2.5]

    # Weight 0 trains sample i on sample i-1's style, weight 1 on its own: the losses say so.
    encoder, decoder = load_encoder(last_layer="relu4_1"), load_decoder(None)
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        own = adain_losses(encoder, decoder, content, style, "l2")
        assert torch.allclose(torch.stack(adain_losses(encoder, decoder, content, style, "l2", torch.ones(2))),
                              torch.stack(own))
        swapped = adain_losses(encoder, decoder, content, style, "l2", torch.zeros(2))
        rolled = adain_losses(encoder, decoder, content, style.roll(1, 0), "l2")
        assert torch.allclose(torch.stack(swapped), torch.stack(rolled), rtol=1e-5)
        assert not torch.equal(torch.stack(rolled), torch.stack(own))


def test_resume_gives_the_same_steps_as_one_run(data, tmp_path):
    kw = {"style_augment": True, "style_mix": 0.5, "ema_decay": 0.5}
    train(_config(data, tmp_path / "one", 6, **kw))
    train(_config(data, tmp_path / "two", 4, **kw))
    assert load_checkpoint(tmp_path / "two" / CHECKPOINT)["iteration"] == 4
    train(_config(data, tmp_path / "two", 6, resume=True, **kw))
    assert load_checkpoint(tmp_path / "two" / CHECKPOINT)["iteration"] == 6
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert [r[0] for r in two] == list(range(1, 7))
    assert np.allclose([r[1:] for r in one], [r[1:] for r in two], rtol=1e-5)
    a, b = load_checkpoint(tmp_path / "one" / CHECKPOINT), load_checkpoint(tmp_path / "two" / CHECKPOINT)
    for key in ("decoder", "ema"):
        assert all(torch.allclose(a[key][k].float(), b[key][k].float(), atol=1e-6) for k in a[key])
    assert int(b["ema"]["n_averaged"]) == 6
    assert not torch.allclose(a["ema"]["module.1.weight"], a["decoder"]["1.weight"])  # an average, not a copy


def test_interrupt_keeps_the_finished_iterations(data, tmp_path):
    def stop_at_3(step):
        if step.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(data, tmp_path, 10, save_minutes=100.0), on_step=stop_at_3)
    assert load_checkpoint(tmp_path / CHECKPOINT)["iteration"] == 3
    # A time budget (a chunk on a lent machine) also stops at a finished, checkpointed iteration.
    train(_config(data, tmp_path, 10, resume=True, max_minutes=0.0))
    assert load_checkpoint(tmp_path / CHECKPOINT)["iteration"] == 4


def test_export_round_trip_and_resume_from_weights_alone(data, tmp_path):
    train(_config(data, tmp_path / "ck", 4))
    weights = tmp_path / "decoder.safetensors"
    card = export_checkpoint(tmp_path / "ck" / CHECKPOINT, weights)
    assert "**4**" in card.read_text() and weights.stat().st_size < 7_500_000
    state = load_checkpoint(tmp_path / "ck" / CHECKPOINT)["decoder"]
    loaded = load_decoder(weights).state_dict()
    assert all(torch.allclose(loaded[k], state[k].half().float()) for k in state)
    # With a moving average, that is what ships.
    train(_config(data, tmp_path / "ema", 4, ema_decay=0.5))
    export_checkpoint(tmp_path / "ema" / CHECKPOINT, weights)
    ema = load_checkpoint(tmp_path / "ema" / CHECKPOINT)["ema"]
    loaded = load_decoder(weights).state_dict()
    assert all(torch.allclose(loaded[k], ema[f"module.{k}"].half().float()) for k in loaded)
    # The checkpoint folder is gone: training resumes from the shipped weights and their iteration count.
    train(_config(data, tmp_path / "fresh", 6, resume=True, init_from=weights))
    assert [r[0] for r in _losses(tmp_path / "fresh")] == [5, 6]


def test_style_folders_are_pooled_and_counted_on_the_card(data, tmp_path):
    extra = tmp_path / "more"
    extra.mkdir()
    for i in range(2):
        Image.fromarray(gradient_image(64, 48, seed=20 + i)).save(extra / f"m{i}.jpg")
    images, skipped = load_folders([data / "style", extra])
    assert len(images) == 5 and not skipped
    with pytest.raises(FileNotFoundError, match="missing"):
        load_folders([data / "style", tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        load_folders([data / "style", tmp_path / "empty"])
    train(_config(data, tmp_path / "ck", 2, style_dirs=[data / "style", extra]))
    card = export_checkpoint(tmp_path / "ck" / CHECKPOINT, tmp_path / "decoder.safetensors").read_text()
    assert f"style images: 3 from `{data / 'style'}`, 2 from `{extra}`" in card


def test_card_evaluation_table_has_a_column_per_mode():
    figures = {"pairs": 4, "size": 64, "style_loss_ratio_mean": 0.3, "style_loss_ratio_by_style": {"a": 0.31},
               "calibrated_feedback1": {"style_loss_ratio_mean": 0.25, "style_loss_ratio_by_style": {"a": 0.24}}}
    lines = evaluation_lines(figures)
    assert "| figure | decoder | calibrated, `--feedback 1` |" in lines
    assert "| held-out style-loss ratio (mean of pairs) | 0.3 | 0.25 |" in lines
    assert "| ratio: a | 0.31 | 0.24 |" in lines
