"""Small builders shared by the tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app

STYLE_PATH = Path(__file__).resolve().parents[1] / "samples" / "style" / "stained_glass.png"
# What tests mean by a plain stylizer: no calibration, no adaptation, fp32 on the CPU, so pixels do not
# depend on the machine's device or on the calibration photos.
PLAIN = {"calibrate": False, "precision": "fp32", "device": "cpu", "adapt": 0}


def gradient_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image with some noise, (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), 0.5 + 0.0 * xx], axis=2) * 200
    return (image + rng.uniform(0, 55, image.shape)).astype(np.uint8)


def save_rgb(path: Path, width: int, height: int, seed: int = 0, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient_image(width, height, seed)).save(path, **kwargs)
    return path


def run_cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def make_stylizer(decoder_file: Path | None, style: Path | Sequence[Path] = STYLE_PATH, size: int = 256,
                  on_adapt_step=None, **style_options):
    """A ``Stylizer`` built as the CLI builds one (``build.build_stylizer``), with ``decoder_file`` (None: the
    shipped decoder), the style image(s) at long side ``size``; other ``StyleOptions`` fields override
    ``PLAIN``."""
    from pipeline.build import build_stylizer
    from pipeline.options import StyleOptions

    styles = [style] if isinstance(style, (str, Path)) else list(style)
    return build_stylizer(StyleOptions(styles=styles, decoder=decoder_file, style_size=size,
                                       **{**PLAIN, **style_options}), on_adapt_step)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
