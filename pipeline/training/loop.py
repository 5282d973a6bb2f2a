"""Decoder training with the AdaIN paper's losses, checkpointed so it resumes bit-for-bit across sessions."""

from __future__ import annotations

import csv
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from pipeline.device import autocast, pick_device, pick_dtype
from pipeline.errors import JobError, WeightsError
from pipeline.io.images import atomic_write
from pipeline.models.decoder import Decoder, decoder_metadata, load_decoder_state
from pipeline.models.vgg import STYLE_LAYERS, VGGEncoder, load_encoder
from pipeline.ops.adain import adain_stats
from pipeline.ops.losses import LayerStats, channel_stats, stats_distance, stats_mse
from pipeline.training.data import PairBatches, load_folders

CHECKPOINT = "checkpoint.pt"
# mse: the reference code's (squared, channel-averaged, so relu4_1's large raw Caffe features dominate);
# l2: the paper's Eq. 12 as printed and as evaluated (L2 norms, so each layer counts in proportion to its
# remaining distance rather than its square).
STYLE_LOSSES = ("mse", "l2")
LOG = "log.csv"


@dataclass
class TrainConfig:
    content_dirs: list[Path]
    style_dirs: list[Path]
    out: Path
    iterations: int = 160_000
    batch_size: int = 8
    crop: int = 256
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    style_loss: str = "mse"  # see STYLE_LOSSES
    style_augment: bool = False  # turned and recoloured variants of the style images (data.new_painting)
    style_mix: float = 0.0  # share of samples whose style statistics are mixed with another's (mix_styles)
    ema_decay: float = 0.0  # > 0: keep an exponential moving average of the weights; export ships it
    device: str = "auto"
    precision: str = "auto"
    workers: int = 0
    seed: int = 0
    resume: bool = False
    init_from: Path | None = None  # decoder weights to start from when there is no checkpoint
    save_every: int = 200  # iterations
    save_minutes: float = 10.0
    max_minutes: float | None = None  # stop (checkpointed) after this much wall time: chunks on a lent machine


@dataclass
class StepLosses:
    iteration: int
    content: float
    style: float
    lr: float
    seconds: float


def mix_styles(stats: LayerStats, weights: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Synthetic styles: sample i's statistics at every layer become ``w_i`` times its own plus ``1 - w_i``
    times sample i-1's. At relu4_1 that is exactly the AdaIN target of the reference style interpolation;
    the lower layers are mixed alike, so the decoder sees styles between its few hundred paintings."""
    w = weights.reshape(-1, 1, 1, 1)
    return [(w * m + (1 - w) * m.roll(1, 0), w * s + (1 - w) * s.roll(1, 0)) for m, s in stats]


def adain_losses(encoder: VGGEncoder, decoder: Decoder, content: torch.Tensor, style: torch.Tensor,
                 style_loss: str = "mse", mix: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Content loss against the AdaIN target at relu4_1 and mean/std style loss at relu1_1..relu4_1;
    ``mix`` (one weight per sample, 1 = its own style) interpolates the style statistics first."""
    with torch.no_grad():
        style_stats = channel_stats(encoder(style, STYLE_LAYERS))
        if mix is not None:
            style_stats = mix_styles(style_stats, mix)
        target = adain_stats(encoder(content, ("relu4_1",))[0].float(), *style_stats[-1])
    output_feats = encoder(decoder(target), STYLE_LAYERS)
    content_loss = torch.nn.functional.mse_loss(output_feats[-1].float(), target)
    if style_loss == "l2":
        return content_loss, stats_distance(output_feats, style_stats).mean()
    return content_loss, stats_mse(output_feats, style_stats)


def _scale_input_conv(decoder: Decoder, encoder: VGGEncoder, content: torch.Tensor) -> None:
    """Data-dependent init: raw Caffe relu4_1 features are in the hundreds, so shrink the first conv
    until its output is O(1); otherwise Adam spends its first thousand steps only rescaling."""
    with torch.no_grad():
        rms = encoder(content, ("relu4_1",))[0].pow(2).mean().sqrt()
        decoder[1].weight.div_(rms)
        decoder[1].bias.zero_()


@dataclass
class _Run:
    """Everything one training run holds: models, optimizer, where it stands."""

    cfg: TrainConfig
    device: torch.device
    dtype: torch.dtype
    encoder: VGGEncoder
    decoder: Decoder
    optimizer: torch.optim.Optimizer
    ema: AveragedModel | None
    scaler: torch.amp.GradScaler
    iteration: int = 0
    elapsed: float = 0.0

    @property
    def checkpoint(self) -> Path:
        return self.cfg.out / CHECKPOINT


def _rng_state() -> dict:
    """Every random generator's state as tensors and plain numbers, so a checkpoint loads with
    ``weights_only=True`` (no pickled objects)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))


def _save_checkpoint(run: _Run) -> None:
    """Write the checkpoint atomically (temporary file, then rename): a crash never leaves half of one."""
    state = {
        "decoder": run.decoder.state_dict(),
        "ema": run.ema.state_dict() if run.ema is not None and run.ema.n_averaged > 0 else None,
        "optimizer": run.optimizer.state_dict(),
        "iteration": run.iteration,
        "elapsed_s": run.elapsed,
        "config": {k: [str(p) for p in v] if isinstance(v, list) else str(v) for k, v in asdict(run.cfg).items()},
        "rng": _rng_state(),
    }
    atomic_write(run.checkpoint, lambda tmp: torch.save(state, tmp))


CHECKPOINT_KEYS = {"decoder", "optimizer", "iteration", "elapsed_s", "config", "rng"}  # what _save writes


def _ignore_interrupts(_worker_id: int) -> None:
    """Loader workers leave Ctrl-C and SIGTERM to the main process, which checkpoints and shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, loaded without unpickling objects (``weights_only``): a crafted file cannot
    run code. Raises WeightsError naming the file when it is not a checkpoint this version can read."""
    if path.suffix.lower() == ".safetensors":
        raise WeightsError(f"checkpoint {path}: exported decoder weights, not a training checkpoint (they are "
                           "used as they are: --decoder for stylizing, --init-from to train from them)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"checkpoint {path}: no such file") from None
    except IsADirectoryError:
        raise WeightsError(f"checkpoint {path}: is a folder") from None
    except Exception as exc:  # noqa: BLE001 - what the safe unpickler raises for other bytes varies (KeyError...)
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
        raise WeightsError(f"checkpoint {path}: not a checkpoint that can be loaded safely ({reason})") from None
    missing = sorted(CHECKPOINT_KEYS - set(state)) if isinstance(state, dict) else sorted(CHECKPOINT_KEYS)
    if missing:
        raise WeightsError(f"checkpoint {path}: not a checkpoint of `stylize train` (no {', '.join(missing)})")
    return state


def _start_state(run: _Run) -> None:
    """Restore from the checkpoint (or from decoder weights alone) into ``run``. An average the checkpoint
    lacks starts from the weights at the first step."""
    cfg = run.cfg
    if cfg.resume and run.checkpoint.is_file():
        state = load_checkpoint(run.checkpoint)
        run.decoder.load_state_dict(state["decoder"])
        if run.ema is not None and state.get("ema") is not None:
            run.ema.load_state_dict(state["ema"])
        run.optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        run.iteration, run.elapsed = int(state["iteration"]), float(state["elapsed_s"])
    elif cfg.init_from is not None:
        run.decoder.load_state_dict(load_decoder_state(cfg.init_from))
        meta = decoder_metadata(cfg.init_from)
        run.iteration, run.elapsed = int(meta.get("iterations", 0)), float(meta.get("wall_time_s", 0.0))


def _build(cfg: TrainConfig, batches: PairBatches) -> _Run:
    """Models on the device, the optimizer, and the state to start from.

    The encoder pads by reflection, as the Stylizer encodes: with zero padding the decoder learns to paint
    a band of dots along the border. channels_last: faster convolutions with oneDNN and cuDNN."""
    device = pick_device(cfg.device)
    encoder = load_encoder(last_layer="relu4_1")
    encoder.use_reflect_padding()
    encoder = encoder.to(device, memory_format=torch.channels_last)
    decoder = Decoder().to(device, memory_format=torch.channels_last)
    dtype = pick_dtype(cfg.precision, device)
    run = _Run(cfg, device, dtype, encoder, decoder, torch.optim.Adam(decoder.parameters(), lr=cfg.lr),
               AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay)) if cfg.ema_decay > 0 else None,
               torch.amp.GradScaler(device.type, enabled=dtype == torch.float16))
    _start_state(run)
    if run.iteration == 0 and cfg.init_from is None:
        _scale_input_conv(decoder, encoder, batches[0][0].to(device))
    return run


def _step(run: _Run, content: torch.Tensor, style: torch.Tensor, mix: torch.Tensor) -> StepLosses:
    """One optimizer step on one batch; advances ``run.iteration`` and ``run.elapsed``."""
    cfg, t0 = run.cfg, time.perf_counter()
    lr = cfg.lr / (1.0 + cfg.lr_decay * run.iteration)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    content = content.to(run.device, memory_format=torch.channels_last)
    style = style.to(run.device, memory_format=torch.channels_last)
    with autocast(run.device, run.dtype):
        c_loss, s_loss = adain_losses(run.encoder, run.decoder, content, style, cfg.style_loss,
                                      mix.to(run.device) if cfg.style_mix > 0 else None)
        loss = cfg.content_weight * c_loss + cfg.style_weight * s_loss
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.ema is not None:
        run.ema.update_parameters(run.decoder)
    seconds = time.perf_counter() - t0
    run.iteration, run.elapsed = run.iteration + 1, run.elapsed + seconds
    return StepLosses(run.iteration, c_loss.item(), s_loss.item(), lr, seconds)


def _open_log(path: Path):
    """The CSV log, appended to (with its header when new)."""
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    log_file = path.open("a", newline="")
    if new:
        csv.writer(log_file).writerow(["iteration", "content_loss", "style_loss", "lr", "seconds"])
    return log_file


def train(cfg: TrainConfig, on_step: Callable[[StepLosses], None] | None = None,
          on_skip: Callable[[str], None] | None = None) -> Path:
    """Train until ``cfg.iterations`` (a total, counting resumed ones); returns the checkpoint path.
    Finished or interrupted (Ctrl-C, SIGTERM), every completed iteration is checkpointed."""
    if cfg.style_loss not in STYLE_LOSSES:
        raise ValueError(f"style loss {cfg.style_loss!r}: expected one of {', '.join(STYLE_LOSSES)}")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise JobError(f"--out {cfg.out}: a file, not a folder (the checkpoint and its log go into a folder)")
    torch.manual_seed(cfg.seed)
    content, skipped_c = load_folders(cfg.content_dirs)
    style, skipped_s = load_folders(cfg.style_dirs)
    for line in skipped_c + skipped_s:
        if on_skip:
            on_skip(line)
    batches = PairBatches(content, style, cfg.batch_size, cfg.crop, cfg.seed, cfg.style_augment, cfg.style_mix)
    run = _build(cfg, batches)
    loader = DataLoader(batches, batch_size=None, sampler=range(run.iteration, cfg.iterations),
                        num_workers=cfg.workers, persistent_workers=False, worker_init_fn=_ignore_interrupts)
    run.decoder.train()
    last_save = run_start = time.monotonic()
    with _open_log(cfg.out / LOG) as log_file:
        try:
            for content_batch, style_batch, mix in loader:
                step = _step(run, content_batch, style_batch, mix)
                csv.writer(log_file).writerow([step.iteration, f"{step.content:.6g}", f"{step.style:.6g}",
                                               f"{step.lr:.3e}", f"{step.seconds:.3f}"])
                log_file.flush()  # so a crash or `tail` sees every finished iteration
                if on_step:
                    on_step(step)
                if step.iteration % cfg.save_every == 0 or time.monotonic() - last_save > 60 * cfg.save_minutes:
                    _save_checkpoint(run)
                    last_save = time.monotonic()
                if cfg.max_minutes is not None and time.monotonic() - run_start >= 60 * cfg.max_minutes:
                    break
        finally:
            log_file.flush()
            _save_checkpoint(run)
    return run.checkpoint
