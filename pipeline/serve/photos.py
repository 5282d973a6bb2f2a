"""Photos through the public API (``pipeline.api.load_stylizer``), one at a time, with the stylizers kept.

Building a stylizer (weights, style encoding, calibration) costs seconds; applying it at preview size costs
well under one on a CPU. So stylizers stay loaded, keyed by what the build depends on (the styles' bytes,
their weights, the work size); alpha and the colour mode act per call, so a slider move reuses the build
through a shallow copy with those two set. One lock serializes requests: several tabs queue instead of
running two networks at once (and twice the memory).
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ImageReadError, UsageError
from pipeline.serve.errors import ApiError


@dataclass(frozen=True)
class PhotoRequest:
    content: Path
    styles: tuple[Path, ...]
    style_ids: tuple[str, ...]  # what identifies each style's pixels: a gallery name or the upload's digest
    weights: tuple[float, ...] | None = None
    alpha: float = 1.0
    preserve_color: str = "none"
    size: int = 384
    keep_size: bool = False

    @property
    def build_key(self) -> tuple:
        return self.style_ids, self.weights, self.size


class PhotoService:
    """``stylize(request)`` -> (PIL image, seconds spent stylizing); at most ``cache_size`` stylizers kept."""

    def __init__(self, device: str = "auto", cache_size: int = 4, **options) -> None:
        self.device, self.cache_size, self.options = device, cache_size, options
        self.lock = threading.Lock()
        self.cache: OrderedDict[tuple, object] = OrderedDict()

    def stylize(self, request: PhotoRequest):
        from pipeline.api import ImageStylizer

        with self.lock:
            base = self._stylizer(request)
            variant = copy.copy(base.stylizer)
            variant.alpha = request.alpha
            variant.preserve_color = type(variant.preserve_color)(request.preserve_color)
            start = time.perf_counter()
            try:
                image = ImageStylizer(variant, request.size, request.keep_size)(request.content)
            except ImageReadError as exc:
                raise ApiError(422, f"content: {exc}") from None
            return image, time.perf_counter() - start

    def _stylizer(self, request: PhotoRequest):
        """The cached build for ``request`` (most recently used last), built on a miss."""
        from pipeline.api import load_stylizer

        key = request.build_key
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        try:
            built = load_stylizer(list(request.styles), size=request.size, device=self.device,
                                  style_weights=request.weights, **self.options)
        except UsageError as exc:
            raise ApiError(422, str(exc)) from None
        self.cache[key] = built
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return built
