"""Small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app


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
