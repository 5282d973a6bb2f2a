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


def load_folders(roots: list[Path], min_side: int = 16) -> tuple[list[np.ndarray], list[str]]:
    """All decodable images under the ``roots`` as uint8 RGB arrays, and one line per file that was skipped.
    A folder that is missing or holds no image files is an error: a mistyped path must not go unnoticed."""
    paths = []
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"training folder {root} does not exist")
        found = list(walk_files(root, IMAGE_EXTENSIONS))
        if not found:
            raise ValueError(f"no image files under {root}")
        paths += found
    images, skipped = [], []
    for path in paths:
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


def random_crop(image: np.ndarray, crop: int, rng: np.random.Generator, scale_jitter: float = 0.0) -> np.ndarray:
    """Resize so the short side is 2x ``crop`` (as in the AdaIN recipe; times 2**u, u uniform in
    +-``scale_jitter``, but never below ``crop``), then crop and maybe flip."""
    h, w = image.shape[:2]
    scale = max(2 * crop * 2.0 ** rng.uniform(-scale_jitter, scale_jitter), crop) / min(h, w)
    size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, size, interpolation=interp)
    top = int(rng.integers(0, image.shape[0] - crop + 1))
    left = int(rng.integers(0, image.shape[1] - crop + 1))
    out = image[top:top + crop, left:left + crop]
    return out[:, ::-1] if rng.random() < 0.5 else out


# RGB <-> YIQ: hue and saturation change by rotating and scaling the (I, Q) chroma plane at constant luma.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def recolour(image: np.ndarray, hue: float, saturation: float, gamma: float) -> np.ndarray:
    """Turn the hue by ``hue`` radians and scale the saturation at constant luma (YIQ), then apply ``gamma``."""
    chroma = saturation * np.array([[np.cos(hue), -np.sin(hue)], [np.sin(hue), np.cos(hue)]])
    mix = np.linalg.inv(_YIQ) @ np.block([[np.ones((1, 1)), np.zeros((1, 2))], [np.zeros((2, 1)), chroma]]) @ _YIQ
    rgb = np.clip(image.astype(np.float32) @ mix.T.astype(np.float32), 0.0, 255.0) / 255.0
    return (255.0 * rgb**gamma + 0.5).astype(np.uint8)


def new_painting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A variant of a style image with the same brushwork: turned by a multiple of 90 degrees, and half the
    time recoloured. With ~100 training paintings the decoder fits the training styles far better than
    unseen ones (style-loss ratio 0.27 against 0.38 at 256 px), so the style side needs the variety."""
    image = np.ascontiguousarray(np.rot90(image, int(rng.integers(0, 4))))
    if rng.random() < 0.5:
        return image
    return recolour(image, rng.uniform(-np.pi, np.pi), 2.0 ** rng.uniform(-1.0, 0.5), 2.0 ** rng.uniform(-0.5, 0.5))


class PairBatches(Dataset):
    """Item ``i`` is the (content, style, mix) batch of training iteration ``i``: two (B, 3, crop, crop)
    tensors and (B,) style-mixing weights (1 = the sample's own style; ``style_mix`` of them are uniform
    in [0, 1), see ``loop.mix_styles``)."""

    def __init__(self, content: list[np.ndarray], style: list[np.ndarray], batch_size: int, crop: int,
                 seed: int, style_augment: bool = False, style_mix: float = 0.0) -> None:
        if not content or not style:
            raise ValueError("training needs at least one content and one style image")
        self.content, self.style = content, style
        self.batch_size, self.crop, self.seed = batch_size, crop, seed
        self.style_augment, self.style_mix = style_augment, style_mix

    def __len__(self) -> int:
        return 2**62

    def _batch(self, images: list[np.ndarray], rng: np.random.Generator, augment: bool = False) -> torch.Tensor:
        picks = rng.integers(0, len(images), self.batch_size)
        if augment:
            crops = [random_crop(new_painting(images[i], rng), self.crop, rng, scale_jitter=0.5) for i in picks]
        else:
            crops = [random_crop(images[i], self.crop, rng) for i in picks]
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255.0)

    def _mix(self, rng: np.random.Generator) -> torch.Tensor:
        """Drawn after the images, and only when mixing is on, so the images stay those of a run without."""
        weights = np.ones(self.batch_size, np.float32)
        if self.style_mix > 0:
            mixed = rng.random(self.batch_size) < self.style_mix
            weights[mixed] = rng.random(int(mixed.sum()))
        return torch.from_numpy(weights)

    def __getitem__(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, iteration])
        content = self._batch(self.content, rng)
        style = self._batch(self.style, rng, self.style_augment)
        return content, style, self._mix(rng)
