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

from pipeline.device import autocast, keep_freed_memory, pick_device, pick_dtype
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


def _save_checkpoint(path: Path, decoder: Decoder, ema: AveragedModel | None, optimizer: torch.optim.Optimizer,
                     iteration: int, elapsed: float, cfg: TrainConfig) -> None:
    state = {
        "decoder": decoder.state_dict(),
        "ema": ema.state_dict() if ema is not None and ema.n_averaged > 0 else None,
        "optimizer": optimizer.state_dict(),
        "iteration": iteration,
        "elapsed_s": elapsed,
        "config": {k: [str(p) for p in v] if isinstance(v, list) else str(v) for k, v in asdict(cfg).items()},
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _ignore_interrupts(_worker_id: int) -> None:
    """Loader workers leave Ctrl-C and SIGTERM to the main process, which checkpoints and shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def _start_state(cfg: TrainConfig, decoder: Decoder, ema: AveragedModel | None,
                 optimizer: torch.optim.Optimizer) -> tuple[int, float]:
    """Restore from the checkpoint (or from decoder weights alone); returns (iteration, elapsed seconds).
    An average the checkpoint lacks starts from the weights at the first step."""
    ckpt = cfg.out / CHECKPOINT
    if cfg.resume and ckpt.is_file():
        state = load_checkpoint(ckpt)
        decoder.load_state_dict(state["decoder"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return int(state["iteration"]), float(state["elapsed_s"])
    if cfg.init_from is not None:
        decoder.load_state_dict(load_decoder_state(cfg.init_from))
        meta = decoder_metadata(cfg.init_from)
        return int(meta.get("iterations", 0)), float(meta.get("wall_time_s", 0.0))
    return 0, 0.0


def train(cfg: TrainConfig, on_step: Callable[[StepLosses], None] | None = None,
          on_skip: Callable[[str], None] | None = None) -> Path:
    """Train until ``cfg.iterations`` (a total, counting resumed ones); returns the checkpoint path."""
    if cfg.style_loss not in STYLE_LOSSES:
        raise ValueError(f"style loss {cfg.style_loss!r}: expected one of {', '.join(STYLE_LOSSES)}")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.precision, device)
    if device.type == "cpu":
        keep_freed_memory()  # a batch's activations are tens of MB each, allocated again every step
    content, skipped_c = load_folders(cfg.content_dirs)
    style, skipped_s = load_folders(cfg.style_dirs)
    for line in skipped_c + skipped_s:
        if on_skip:
            on_skip(line)
    batches = PairBatches(content, style, cfg.batch_size, cfg.crop, cfg.seed, cfg.style_augment, cfg.style_mix)

    # Reflection padding, as the Stylizer encodes: with zero padding the decoder learnt to paint a band of
    # dots along the border, which the zero-padded edge features of its output then matched.
    # channels_last: about 1.3x faster convolutions with oneDNN on the CPU, and with cuDNN on CUDA.
    encoder = load_encoder(last_layer="relu4_1")
    encoder.use_reflect_padding()
    encoder = encoder.to(device, memory_format=torch.channels_last)
    decoder = Decoder().to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    cfg.out.mkdir(parents=True, exist_ok=True)
    ema = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay)) if cfg.ema_decay > 0 else None
    start, elapsed = _start_state(cfg, decoder, ema, optimizer)
    if start == 0 and cfg.init_from is None:
        _scale_input_conv(decoder, encoder, batches[0][0].to(device))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    loader = DataLoader(batches, batch_size=None, sampler=range(start, cfg.iterations),
                        num_workers=cfg.workers, persistent_workers=False,
                        worker_init_fn=_ignore_interrupts)
    ckpt = cfg.out / CHECKPOINT
    reached = {"iteration": start, "elapsed": elapsed}
    decoder.train()
    log_path = cfg.out / LOG
    new_log = not log_path.exists()
    with log_path.open("a", newline="") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["iteration", "content_loss", "style_loss", "lr", "seconds"])
        last_save = run_start = time.monotonic()
        try:
            for content_batch, style_batch, mix in loader:
                iteration = reached["iteration"]
                t0 = time.perf_counter()
                lr = cfg.lr / (1.0 + cfg.lr_decay * iteration)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                content_batch = content_batch.to(device, memory_format=torch.channels_last)
                style_batch = style_batch.to(device, memory_format=torch.channels_last)
                with autocast(device, dtype):
                    c_loss, s_loss = adain_losses(encoder, decoder, content_batch, style_batch,
                                                  cfg.style_loss, mix.to(device) if cfg.style_mix > 0 else None)
                    loss = cfg.content_weight * c_loss + cfg.style_weight * s_loss
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update_parameters(decoder)
                seconds = time.perf_counter() - t0
                reached["iteration"], reached["elapsed"] = iteration + 1, reached["elapsed"] + seconds
                step = StepLosses(iteration + 1, c_loss.item(), s_loss.item(), lr, seconds)
                log.writerow([step.iteration, f"{step.content:.6g}", f"{step.style:.6g}", f"{lr:.3e}",
                              f"{seconds:.3f}"])
                log_file.flush()  # so a crash or `tail` sees every finished iteration
                if on_step:
                    on_step(step)
                if step.iteration % cfg.save_every == 0 or time.monotonic() - last_save > 60 * cfg.save_minutes:
                    _save_checkpoint(ckpt, decoder, ema, optimizer, step.iteration, reached["elapsed"], cfg)
                    last_save = time.monotonic()
                if cfg.max_minutes is not None and time.monotonic() - run_start >= 60 * cfg.max_minutes:
                    break
        finally:  # finished, or interrupted (Ctrl-C, SIGTERM): keep every completed iteration
            log_file.flush()
            _save_checkpoint(ckpt, decoder, ema, optimizer, reached["iteration"], reached["elapsed"], cfg)
    return ckpt
