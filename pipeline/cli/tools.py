"""``stylize metrics``, ``info``, ``train`` and ``export``: parse, then hand over to the module that does the work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.cli.params import Debug, Json
from pipeline.cli.run import EXIT_INTERRUPTED, err, fail, prepare
from pipeline.errors import StylizeError


def metrics(
    input_video: Annotated[Path, typer.Argument(metavar="INPUT", help="The source video.")],
    output_video: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Its stylized version.")],
    style: Annotated[Path, typer.Option("--style", "-s", help="The style image the output was made with.")],
    max_frames: Annotated[Optional[int], typer.Option(min=2, help="Only the first N frames.")] = None,
    sample_every: Annotated[int, typer.Option(min=1, help="Style/content loss on every Nth frame.")] = 1,
    start: Annotated[float, typer.Option(min=0.0, help="Where OUTPUT begins in INPUT, in seconds from its first "
                                         "frame (the --start it was made with).")] = 0.0,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """Temporal and stylistic quality of a stylized video: warping error, style loss, content loss (stdout), over
    the frames of OUTPUT paired by time with INPUT's (a part made with --start, --duration or --max-frames too)."""
    prepare(None, quiet=False, verbose=False)
    from pipeline.metrics import measure_video

    try:
        figures = measure_video(input_video, output_video, style, max_frames, sample_every, start)
    except StylizeError as exc:
        if debug:
            raise
        fail(str(exc))
    print(json.dumps(figures, indent=2) if json_out else "\n".join(f"{k}: {v:.6g}" for k, v in figures.items()))


def info(
    size: Annotated[int, typer.Option(min=16, help="Long side at which to time the CPU backends.")] = 384,
    probe: Annotated[bool, typer.Option(help="Time the CPU backends (or read their cached times).")] = True,
    reprobe: Annotated[bool, typer.Option("--reprobe", help="Time them again, replacing the cached times (say, "
                                          "after a first run on a busy machine).")] = False,
    json_out: Json = False,
) -> None:
    """What this machine offers: CPU model and flags, CUDA devices, library versions, the CPU backends and
    which one --precision auto takes (probed once, then cached)."""
    prepare(None, quiet=False, verbose=False)
    from pipeline.info import format_info, machine_info

    figures = machine_info(size, probe, reprobe)
    print(json.dumps(figures, indent=2) if json_out else format_info(figures))


def train(
    content_dir: Annotated[list[Path], typer.Option(help="Folder of content photos (searched recursively; repeatable).")],
    style_dir: Annotated[list[Path], typer.Option(help="Folder of style paintings (searched recursively; repeatable).")],
    out: Annotated[Path, typer.Option(help="Checkpoint folder (checkpoint.pt and log.csv).")],
    iterations: Annotated[int, typer.Option(min=1, help="Total iterations, counting resumed ones.")] = 160_000,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    crop: Annotated[int, typer.Option(min=16, help="Random crop size; images are resized to short side 2x crop first.")] = 256,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate, decayed as lr / (1 + lr_decay * iteration).")] = 1e-4,
    lr_decay: Annotated[float, typer.Option(min=0.0)] = 5e-5,
    style_weight: Annotated[float, typer.Option(min=0.0)] = 10.0,
    content_weight: Annotated[float, typer.Option(min=0.0)] = 1.0,
    style_loss: Annotated[str, typer.Option(help="mse (the reference code's) or l2 (the paper's Eq. 12, as evaluated).")] = "mse",
    style_augment: Annotated[bool, typer.Option(help="Also train on turned and recoloured variants of the styles.")] = False,
    style_mix: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of samples trained on a random interpolation of two styles' statistics (synthetic styles). 0: off.")] = 0.0,
    ema_decay: Annotated[float, typer.Option(min=0.0, max=0.99999, help="Keep a moving average of the weights (e.g. 0.999); export ships it. 0: off.")] = 0.0,
    device: str = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, fp16 or bf16 (autocast; on CUDA).")] = "auto",
    workers: Annotated[int, typer.Option(min=0, help="Data loader worker processes.")] = 0,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt, or from --init-from.")] = False,
    init_from: Annotated[Optional[Path], typer.Option(help="Decoder weights to start from without a checkpoint.")] = None,
    save_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N iterations ...")] = 200,
    save_minutes: Annotated[float, typer.Option(min=0.0, help="... or every M minutes, whichever comes first.")] = 10.0,
    minutes: Annotated[Optional[float], typer.Option(min=0.0, help="Stop, checkpointed, after this many minutes of this run (resume later).")] = None,
) -> None:
    """Train the AdaIN decoder (resumable)."""
    from pipeline.device import pick_device, pick_dtype
    from pipeline.process import setup_process
    from pipeline.training.loop import TrainConfig
    from pipeline.training.progress import run_training

    setup_process(pick_device(device), pick_dtype(precision, pick_device(device)))

    cfg = TrainConfig(content_dirs=content_dir, style_dirs=style_dir, out=out, iterations=iterations,
                      batch_size=batch_size, crop=crop, lr=lr, lr_decay=lr_decay, style_weight=style_weight,
                      content_weight=content_weight, style_loss=style_loss, style_augment=style_augment,
                      style_mix=style_mix, ema_decay=ema_decay, device=device, precision=precision, workers=workers,
                      seed=seed, resume=resume, init_from=init_from, save_every=save_every,
                      save_minutes=save_minutes, max_minutes=minutes)
    raise typer.Exit(run_training(cfg, err))


def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt written by `stylize train`.")],
    out: Annotated[Path, typer.Option(help="Output .safetensors file.")] = Path("pipeline/weights/decoder.safetensors"),
    fp16: Annotated[bool, typer.Option(help="Store fp16 weights (half the size).")] = True,
    eval_json: Annotated[Optional[Path], typer.Option(help="Figures from scripts/eval_decoder.py for the card.")] = None,
    grid: Annotated[Optional[Path], typer.Option(help="Sample grid image to reference from the card.")] = None,
    notes: Annotated[Optional[Path], typer.Option(help="Markdown appended to the card (history, caveats).")] = None,
) -> None:
    """Export a training checkpoint as the shipped decoder, with its model card."""
    from pipeline.training.export import export_checkpoint

    try:
        card = export_checkpoint(checkpoint, out, fp16=fp16, eval_json=eval_json, grid=grid, notes=notes)
    except StylizeError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    err.print(f"wrote {out} and {card}", markup=False)
