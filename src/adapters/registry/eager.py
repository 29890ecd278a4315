"""Run a coroutine at once, and make a task of it only if it must wait.

The registry's use cases are coroutines because a shared store (Redis) or the disk makes them
wait; over the embedded memory store most never do. A lookup costs the registry a few
microseconds of CPU; a :class:`asyncio.Task` per request would add about as much again, and
would answer in a later loop pass. :func:`run_eagerly` steps the coroutine once, synchronously:
if it finished, its result is there (:class:`Done`); if it suspended, the rest runs in a task
that resumes it where it stopped. (Python 3.12 has ``eager_start``; this project supports 3.11.)

The first step runs outside any task: code on that path must not need
``asyncio.current_task()`` (``asyncio.timeout`` does; a lock, a future or a socket do not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """A coroutine that finished without waiting, and what it returned."""

    value: T


def run_eagerly(coro: Coroutine[Any, Any, T]) -> Done[T] | asyncio.Task[T]:
    """Step ``coro`` until it first waits: its result, or the task finishing it. An exception
    it raised before waiting propagates here."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return Done(stop.value)
    except BaseException:
        coro.close()
        raise
    return asyncio.get_running_loop().create_task(_Resumed(coro, yielded).run())


class _Resumed(Generic[T]):
    """The rest of a coroutine that suspended on ``yielded`` outside any task: what a task's
    step does (wait for the future it yielded, then send into it again), inside a task."""

    def __init__(self, coro: Coroutine[Any, Any, T], yielded: object) -> None:
        self._coro = coro
        self._yielded = yielded

    async def run(self) -> T:
        coro = self._coro
        while True:
            try:
                await _settle(self._yielded)
            except asyncio.CancelledError as exc:
                # Cancelled while it waited: the coroutine hears it where it waits, as it
                # would in a task of its own.
                if isinstance(self._yielded, asyncio.Future):
                    self._yielded.cancel()
                try:
                    self._yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                continue
            try:
                self._yielded = coro.send(None)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]


async def _settle(yielded: object) -> None:
    """Wait until what a coroutine yielded is settled: a future until it is done (its result
    is read by the coroutine itself, in ``Future.__await__``), a bare yield for one pass."""
    if isinstance(yielded, asyncio.Future):
        yielded._asyncio_future_blocking = False
        if not yielded.done():
            await asyncio.wait((yielded,))
    else:
        await asyncio.sleep(0)
