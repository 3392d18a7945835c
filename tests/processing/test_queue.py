"""The keyed work queue: client-go semantics."""

from __future__ import annotations

import asyncio

import pytest

from config_sync_service.processing.queue import ShutDownError, WorkQueue


async def test_a_waiting_key_is_queued_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "a", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_key_added_while_processing_runs_once_more_afterwards() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not handed to a second worker while the first holds it
    assert q.in_flight == 1
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_waits_for_work_and_add_after_delays() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    q.add_after("x", 0.05)
    q.add_after("x", 5.0)  # the sooner schedule wins
    assert q.scheduled == 1
    assert await asyncio.wait_for(waiter, 1.0) == "x"


async def test_shut_down_wakes_workers_and_drops_waiting_keys() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add_after("later", 10)
    q.shut_down()
    with pytest.raises(ShutDownError):
        await asyncio.wait_for(waiter, 1.0)
    q.add("new")
    assert len(q) == 0 and q.scheduled == 0
