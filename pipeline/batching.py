"""Group items of equal work size so they can be stacked into one batch without padding."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class SizeBuckets(Generic[T]):
    """Collect items by a size key; a bucket is handed out as soon as it holds ``batch_size`` items."""

    def __init__(self, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        self.batch_size = batch_size
        self._buckets: dict[Hashable, list[T]] = defaultdict(list)

    def add(self, key: Hashable, item: T) -> list[T] | None:
        bucket = self._buckets[key]
        bucket.append(item)
        if len(bucket) < self.batch_size:
            return None
        del self._buckets[key]
        return bucket

    def drain(self) -> Iterator[list[T]]:
        """The partly filled buckets, at the end of the input."""
        while self._buckets:
            yield self._buckets.pop(next(iter(self._buckets)))
