"""Decoder calibration: correct each style's AdaIN statistics once, so the decoder's output matches them.

The decoder inverts relu4_1 features only approximately: its output's channel means and stds miss the ones it
was given by 10-30 % channel by channel, and most of that miss depends on the style, not on the photo
(pipeline/weights/MODEL_CARD.md, "Calibration"). So each style's statistics are corrected on a few bundled
photos when a stylizer is built (pipeline/build.py), and every frame after that gets the correction for free. ``--feedback`` then
corrects each image's own miss, at the cost of one more encode and decode per pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import torch

from pipeline.ops.adain import adain_stats, calc_mean_std, correct_stats
from pipeline.options import CALIBRATION_SIZE, calibration_size_for  # noqa: F401 - their home is options/choices.py

CALIBRATION_STEPS = 2  # the second step still helps; a third gained little (model card)


def calibration_photos() -> list[Path]:
    """The bundled calibration photos (scikit-image's CC0 / public-domain photos, see samples/README.md)."""
    folder = resources.files("pipeline.weights").joinpath("calibration")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jpg"))


def calibrate(encode: Callable[[torch.Tensor], torch.Tensor], decode: Callable[[torch.Tensor], torch.Tensor],
              photo_feats: Sequence[torch.Tensor], mean: torch.Tensor, std: torch.Tensor,
              steps: int = CALIBRATION_STEPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(shift, gain)`` such that AdaIN to ``(mean + shift, std * gain)`` decodes to images whose
    relu4_1 statistics are close to ``(mean, std)``, averaged over the photos' relu4_1 features.

    ``encode`` maps images to relu4_1 features and ``decode`` features to images; ``mean`` and ``std`` are
    (1, C, 1, 1). Zero steps give the identity (0, 1).
    """
    cur_mean, cur_std = mean, std
    for _ in range(steps):
        stats = [calc_mean_std(encode(decode(adain_stats(f, cur_mean, cur_std))).float()) for f in photo_feats]
        out_mean = torch.stack([m for m, _ in stats]).mean(0)
        out_std = torch.stack([s for _, s in stats]).mean(0)
        cur_mean, cur_std = correct_stats(cur_mean, cur_std, mean, std, out_mean, out_std)
    return cur_mean - mean, cur_std / std


def cached_stats(key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The style statistics and calibration stored for ``key`` in the cache folder, else ``compute()``'s,
    stored there (fp32, as computed: a cached run stylizes exactly as the run that calibrated). Why: calibrating
    is most of a warm start-up's work. A damaged or unwritable cache only costs the calibration again."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from pipeline.cache import cache_dir
    from pipeline.io.images import atomic_write

    path = cache_dir() / "calibration" / f"{key}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))
        except (OSError, SafetensorError):
            pass
    stats = compute()
    try:
        atomic_write(path, lambda tmp: save_file({k: v.detach().cpu().contiguous() for k, v in stats.items()},
                                                 str(tmp)))
    except OSError:
        pass
    return stats
