"""Per-style decoder adaptation: a few steps of the training losses for the one style a run uses.

The shipped decoder misses unseen paintings more than unseen photos (model card, "gap"): trained on a few
hundred paintings, it reproduces a new painting's statistics less well than those it was trained on. A run
has one (mixed) style, so the decoder can be fine-tuned to it before the first frame: the paper's losses on
the bundled calibration photos, starting from the shipped weights. The result is cached on disk, keyed by
everything it depends on, so each style costs this once per machine (and a resumed video run, or a worker,
gets exactly the weights the first run used).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn

from pipeline.cache import cache_dir
from pipeline.models.decoder import load_decoder_state, save_decoder
from pipeline.ops.losses import LayerStats, stats_distance

LR = 1e-4
STYLE_WEIGHT = 468.0  # the training recipe's (scripts/train_recipe.args), content weight 1
CUDA_STEPS = 30  # cheap on a GPU; minutes on a CPU (docs/BENCHMARKS.md, "Start-up and activations")
VERSION = 1  # part of the cache key: bump when the procedure changes


def default_steps(device: torch.device) -> int:
    """``--adapt`` left unset: adapt where it is cheap (CUDA), not on the CPU, where it takes minutes."""
    return CUDA_STEPS if device.type == "cuda" else 0


def adapt_decoder(decoder: nn.Module, encode: Callable[[torch.Tensor], Sequence[torch.Tensor]],
                  decode: Callable[[torch.Tensor], torch.Tensor], inputs: Sequence[torch.Tensor],
                  content_targets: Sequence[torch.Tensor], style_stats: LayerStats, steps: int, lr: float = LR,
                  on_step: Callable[[int], None] | None = None) -> None:
    """Fine-tune ``decoder`` in place for ``steps`` Adam steps on the AdaIN losses of training.

    ``inputs`` are the relu4_1 maps fed to the decoder (the calibrated AdaIN targets of the photos),
    ``content_targets`` the plain AdaIN targets its output's relu4_1 features should stay near (the content
    loss), ``style_stats`` the style's (mean, std) at the style layers that ``encode`` returns; ``decode``
    runs ``decoder`` (with the caller's autocast) and gives images in [0, 1]. Each step sums the photos.
    """
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    decoder.train()
    with torch.enable_grad():
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            for feats, target in zip(inputs, content_targets):
                out_feats = encode(decode(feats))
                content = F.mse_loss(out_feats[-1].float(), target)
                style = stats_distance(out_feats, style_stats).mean()
                ((content + STYLE_WEIGHT * style) / len(inputs)).backward()
            optimizer.step()
            if on_step:
                on_step(step + 1)
    decoder.eval()


def cache_key(models: Sequence[nn.Module], tensors: Sequence[torch.Tensor], *settings: object) -> str:
    """A digest of the models' starting weights, the style's tensors and the settings."""
    digest = hashlib.sha256(repr((VERSION, settings)).encode())
    weights = [t for model in models for t in model.state_dict().values()]
    for tensor in [*weights, *tensors]:
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def cached_adaptation(decoder: nn.Module, key: str, adapt: Callable[[], None]) -> None:
    """Load the adapted weights for ``key`` into ``decoder``, or run ``adapt`` and store them (fp32, so a
    cached run stylizes exactly as the run that adapted). An unwritable cache only costs the next run time."""
    path = cache_dir() / "adapted" / f"{key}.safetensors"
    if path.is_file():
        try:
            decoder.load_state_dict(load_decoder_state(path))
            return
        except (OSError, RuntimeError, SafetensorError):  # a damaged file: adapt again and overwrite it
            pass
    adapt()
    try:
        save_decoder(decoder, path, fp16=False)
    except OSError:
        pass
