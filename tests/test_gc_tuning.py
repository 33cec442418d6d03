"""The collector's tuning: thresholds raised, start-up frozen, an hourly collect-and-refreeze."""

from __future__ import annotations

import asyncio
import gc

import pytest

from failoverd.app import gc_tuning

pytestmark = pytest.mark.looptime  # fake time: an hour passes at once


@pytest.fixture(autouse=True)
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tune_raises_the_young_threshold_and_freezes_what_is_loaded():
    gc.unfreeze()
    gc_tuning.tune()
    assert gc.get_threshold()[0] == gc_tuning.YOUNG
    assert gc.get_freeze_count() > 0


async def test_keep_tidy_freezes_after_the_first_rounds_then_refreezes_and_stops():
    gc.unfreeze()
    stop = asyncio.Event()
    collections = gc.get_stats()[2]["collections"]
    task = asyncio.create_task(gc_tuning.keep_tidy(stop, first_rounds=5.0, every=3600.0))
    await asyncio.sleep(4.0)
    assert gc.get_freeze_count() == 0, "nothing frozen before the first rounds are done"
    await asyncio.sleep(2.0)
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    await asyncio.sleep(3600.0)
    assert gc.get_freeze_count() > 0, "frozen again an hour later"
    assert gc.get_stats()[2]["collections"] >= collections + 2, "a full collection each time"
    stop.set()
    await asyncio.wait_for(task, 1.0)
