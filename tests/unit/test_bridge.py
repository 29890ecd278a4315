"""The queue between the network thread and the Tk thread, without Tk."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence

from chinwag.adapters.gui.bridge import (
    MAX_PER_TICK,
    Item,
    NetworkThread,
    QueueEvents,
    QueuePump,
    QueueRunner,
)
from chinwag.adapters.gui.presenter import Event
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.message import Message, MessageState
from tests.support import wait_until_sync
from tests.unit.test_delivery_groups import group_message, group_state
from tests.unit.test_presenter import message


def message_to_bob() -> Message:
    return message(1, "alice", "bob")


class FakeRoot:
    def __init__(self) -> None:
        self.scheduled: list[tuple[int, Callable[[], None]]] = []

    def after(self, ms: int, func: Callable[[], None]) -> str:
        self.scheduled.append((ms, func))
        return "after#1"


class RecordingPresenter:
    def __init__(self, log: list[list[str] | str]) -> None:
        self.log = log
        self.closed = False

    def handle(self, events: Sequence[Event]) -> None:
        self.log.append([e.text for e in events])


def test_events_reach_the_presenter_in_bounded_batches_in_order_with_outcomes() -> None:
    items: queue.SimpleQueue[Item] = queue.SimpleQueue()
    log: list[list[str] | str] = []
    for n in range(3):
        items.put(Event("error", text=f"e{n}"))
    items.put(lambda: log.append("outcome"))
    for n in range(3, MAX_PER_TICK + 10):
        items.put(Event("error", text=f"e{n}"))
    root = FakeRoot()
    pump = QueuePump(root, items, RecordingPresenter(log))
    pump.tick()
    assert log[0] == ["e0", "e1", "e2"]
    assert log[1] == "outcome"
    assert len(log[2]) == MAX_PER_TICK - 4
    assert root.scheduled[-1][0] == 1  # more waiting: come back at once
    pump.tick()
    assert log[3] == [f"e{n}" for n in range(MAX_PER_TICK - 1, MAX_PER_TICK + 10)]
    assert root.scheduled[-1][0] > 1  # drained: back to the normal pace


def test_work_runs_on_the_network_thread_and_reports_through_the_queue() -> None:
    network = NetworkThread()
    network.start()
    try:
        items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        runner = QueueRunner(network, items)
        results: list[object] = []
        threads: list[str] = []

        async def answer() -> int:
            threads.append(threading.current_thread().name)
            return 42

        async def refuse() -> int:
            raise ValueError("no")

        async def hang() -> int:
            await asyncio.Event().wait()
            return 0

        runner.run(answer, results.append, results.append)
        runner.run(refuse, results.append, lambda exc: results.append(str(exc)))
        runner.run(hang, results.append, lambda exc: results.append(type(exc).__name__))
        outcomes: list[Item] = []
        wait_until_sync(lambda: _drain(items, outcomes) >= 2, 5, "two outcomes")
    finally:
        network.stop()  # cancels the hanging request, which still gets an outcome
    wait_until_sync(lambda: _drain(items, outcomes) >= 3, 5, "the cancelled outcome")
    for outcome in outcomes:
        assert callable(outcome)
        outcome()
    assert sorted(map(str, results)) == ["42", "RuntimeError", "no"]
    assert threads == ["chinwag-network"]


def _drain(items: queue.SimpleQueue[Item], into: list[Item]) -> int:
    while not items.empty():
        into.append(items.get_nowait())
    return len(into)


def test_key_changes_are_queued_for_the_presenter_like_every_other_event() -> None:
    items: queue.SimpleQueue[Item] = queue.SimpleQueue()
    events: ChatEvents = QueueEvents(items)  # the whole output port (mypy checks it)
    old, new = bytes([1] * 32), bytes([2] * 32)
    events.identity_changed("bob", new, old, True)
    events.identity_trusted("bob", new)
    assert [items.get_nowait(), items.get_nowait()] == [
        Event("identity_changed", name="bob", key=new, previous=old, verified=True),
        Event("identity_trusted", name="bob", key=new),
    ]


def test_a_state_change_carries_its_route_to_the_presenter() -> None:
    items: queue.SimpleQueue[Item] = queue.SimpleQueue()
    events: ChatEvents = QueueEvents(items)
    delivered = message_to_bob().with_state(MessageState.DELIVERED)
    events.message_state_changed(delivered, Route.RELAYED)
    events.message_state_changed(delivered)
    assert [items.get_nowait(), items.get_nowait()] == [
        Event("state", message=delivered, route=Route.RELAYED),
        Event("state", message=delivered),
    ]


def test_a_members_delivery_and_a_group_change_are_queued_for_the_presenter() -> None:
    items: queue.SimpleQueue[Item] = queue.SimpleQueue()
    events: ChatEvents = QueueEvents(items)
    delivered = group_message(1).with_state(MessageState.DELIVERED)
    events.delivery_state_changed(delivered, "carol", Route.DIRECT)
    events.group_changed(group_state(), True)
    assert [items.get_nowait(), items.get_nowait()] == [
        Event("delivery", message=delivered, name="carol", route=Route.DIRECT),
        Event("group", group=group_state(), left=True),
    ]


def test_a_withdrawn_message_is_queued_with_why_for_the_presenter() -> None:
    items: queue.SimpleQueue[Item] = queue.SimpleQueue()
    events: ChatEvents = QueueEvents(items)
    received = group_message(3, "carol").model_copy(update={"state": MessageState.RECEIVED})
    events.message_received(received)
    events.message_withdrawn(received, "sent after carol was removed from Friends")
    assert [items.get_nowait(), items.get_nowait()] == [
        Event("message", message=received),
        Event("withdrawn", message=received, text="sent after carol was removed from Friends"),
    ]
