"""run_eagerly: a coroutine that never waits is done at once; one that waits finishes in a task,
with its result, its exception or its cancellation as a task of its own would have them."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from chinwag.adapters.registry.eager import Done, run_eagerly


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


async def _no_wait(value: int) -> int:
    return value * 2


async def _waits(gate: asyncio.Future[int], seen: list[str]) -> int:
    seen.append("before")
    got = await gate
    seen.append("after")
    await asyncio.sleep(0)  # a bare yield, too
    return got + 1


@in_loop
async def test_a_coroutine_that_never_waits_is_done_in_the_same_step() -> None:
    outcome = run_eagerly(_no_wait(21))
    assert outcome == Done(42)


@in_loop
async def test_an_exception_before_any_wait_is_raised_at_once() -> None:
    async def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        run_eagerly(fails())


@in_loop
async def test_a_coroutine_that_waits_runs_its_first_step_now_and_the_rest_in_a_task() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    seen: list[str] = []
    outcome = run_eagerly(_waits(gate, seen))
    assert seen == ["before"]  # stepped synchronously up to its wait
    assert isinstance(outcome, asyncio.Task)
    gate.set_result(9)
    assert await asyncio.wait_for(outcome, 5) == 10
    assert seen == ["before", "after"]


@in_loop
async def test_an_exception_after_a_wait_is_the_tasks() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    outcome = run_eagerly(_waits(gate, []))
    assert isinstance(outcome, asyncio.Task)
    gate.set_exception(KeyError("gone"))
    with pytest.raises(KeyError):
        await asyncio.wait_for(outcome, 5)


@in_loop
async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    cleaned: list[str] = []

    async def holds() -> int:
        try:
            return await gate
        finally:
            cleaned.append("finally")

    outcome = run_eagerly(holds())
    assert isinstance(outcome, asyncio.Task)
    await asyncio.sleep(0)
    outcome.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outcome
    assert cleaned == ["finally"]
    assert gate.cancelled()


@in_loop
async def test_a_coroutine_waiting_on_a_lock_and_a_task_resumes_correctly() -> None:
    lock = asyncio.Lock()
    await lock.acquire()

    async def locked() -> str:
        async with lock:
            await asyncio.sleep(0)
            return "in"

    outcome = run_eagerly(locked())
    assert isinstance(outcome, asyncio.Task)
    lock.release()
    assert await asyncio.wait_for(outcome, 5) == "in"
