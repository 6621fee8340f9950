"""The dispatcher's heap settled between cycles (``dispatch.heap``): what survives a settle is
frozen (the collector's passes during the next cycle do not walk it), cyclic garbage is freed by the
settle itself, and the frozen heap is thawed and collected whole once ``full_every_s`` has passed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pnyx.dispatch.heap import Heap


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session's heap as it was


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_settle_frees_cyclic_garbage_and_freezes_what_survives() -> None:
    heap = Heap(Ticks())
    kept = [Cycle() for _ in range(10)]
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    assert heap.settle() >= 0.0
    assert gone() is None
    assert gc.get_freeze_count() > len(kept)
    assert all(c.me is c for c in kept)


def test_the_frozen_heap_is_thawed_once_the_full_interval_passed() -> None:
    clock = Ticks()
    heap = Heap(clock, full_every_s=600.0)
    heap.settle()
    thawed_at = heap._thawed_at
    clock.now = 599.0
    heap.settle()
    assert heap._thawed_at == thawed_at
    clock.now = 600.0
    heap.settle()
    assert heap._thawed_at == 600.0
