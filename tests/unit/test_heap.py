"""What `pagerd serve`, `api` and `worker` do to the garbage collector before serving."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pager.entrypoints.cli import YOUNG_COLLECTION_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_serving_freezes_what_start_up_built_and_collects_the_young_less_often() -> None:
    gc.unfreeze()
    _, middle, oldest = gc.get_threshold()
    built_at_start = [[n] for n in range(10)]
    assert all(gc.is_tracked(o) for o in built_at_start)

    settle_heap()

    in_sight = {id(o) for o in gc.get_objects()}  # the frozen are in no generation
    assert not in_sight & {id(o) for o in built_at_start}
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, middle, oldest)
