"""Work once per text for stages that see a text twice.

A PDF page yields a page sample and a text sample with the same text, side by side in a batch, and several
stages compute the same thing from both. `Recent` keeps the last `size` results of a pure function (dedup's
fingerprints, PII scrubbing), so the second copy costs a dict look-up and memory stays bounded whatever the
run's size; `per_distinct` runs a batched model (fastText) once per distinct input of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """The results of `fn(key)` for the last `size` distinct keys asked (the oldest forgotten first)."""

    def __init__(self, size: int = 64):
        self.size = size
        self._kept: dict[K, V] = {}

    def get(self, key: K, fn: Callable[[K], V]) -> V:
        """`fn(key)`, computed once while `key` is among the last `size` asked. `fn` must be pure and its
        result treated as read-only: the same object is handed to every caller."""
        if key in self._kept:
            return self._kept[key]
        value = fn(key)
        if len(self._kept) >= self.size:
            self._kept.pop(next(iter(self._kept)))
        self._kept[key] = value
        return value


def per_distinct(values: Sequence[K], fn: Callable[[list[K]], Sequence[V]]) -> list[V]:
    """`fn(values)` (one result per value, in order) with `fn` given each distinct value once."""
    distinct = list(dict.fromkeys(values))
    found = dict(zip(distinct, fn(distinct), strict=True))
    return [found[v] for v in values]
