"""Training images held in memory and batches that depend only on (seed, iteration).

Making each batch a pure function of the iteration number is what lets ``--resume`` reproduce exactly
the step an uninterrupted run would have taken, with any number of loader workers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.io.images import IMAGE_EXTENSIONS, ImageReadError, read_image
from pipeline.io.walk import walk_files


def load_folder(root: Path, min_side: int = 16) -> tuple[list[np.ndarray], list[str]]:
    """All decodable images under ``root`` as uint8 RGB arrays, and one line per file that was skipped."""
    images, skipped = [], []
    for path in walk_files(root, IMAGE_EXTENSIONS):
        try:
            rgb = read_image(path).rgb
        except ImageReadError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        if min(rgb.shape[:2]) < min_side:
            skipped.append(f"{path}: too small ({rgb.shape[1]}x{rgb.shape[0]})")
            continue
        images.append((rgb * 255.0 + 0.5).astype(np.uint8))
    return images, skipped


def random_crop(image: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """Resize so the short side is 2x ``crop`` (as in the AdaIN recipe), then crop and maybe flip."""
    h, w = image.shape[:2]
    scale = 2 * crop / min(h, w)
    size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, size, interpolation=interp)
    top = int(rng.integers(0, image.shape[0] - crop + 1))
    left = int(rng.integers(0, image.shape[1] - crop + 1))
    out = image[top:top + crop, left:left + crop]
    return out[:, ::-1] if rng.random() < 0.5 else out


class PairBatches(Dataset):
    """Item ``i`` is the (content, style) batch of training iteration ``i``: two (B, 3, crop, crop) tensors."""

    def __init__(self, content: list[np.ndarray], style: list[np.ndarray], batch_size: int, crop: int,
                 seed: int) -> None:
        if not content or not style:
            raise ValueError("training needs at least one content and one style image")
        self.content, self.style = content, style
        self.batch_size, self.crop, self.seed = batch_size, crop, seed

    def __len__(self) -> int:
        return 2**62

    def _batch(self, images: list[np.ndarray], rng: np.random.Generator) -> torch.Tensor:
        picks = rng.integers(0, len(images), self.batch_size)
        crops = np.stack([random_crop(images[i], self.crop, rng) for i in picks])
        return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)

    def __getitem__(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, iteration])
        return self._batch(self.content, rng), self._batch(self.style, rng)
