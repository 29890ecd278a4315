"""Between the network thread and the Tk thread: one queue, drained by ``after()``.

The network (asyncio) runs on its own thread. Whatever it has to tell the window, application
events and the outcomes of work the presenter asked for, goes into one queue, in order. The Tk
thread drains that queue from an ``after()`` callback, taking at most :data:`MAX_PER_TICK` items
a tick and handing the events to the presenter in one batch, so a burst of thousands of messages
is shown in a few large, cheap view updates and the window keeps answering meanwhile. No widget
is ever touched from the network thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from chinwag.adapters.gui.session import Event
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PER_TICK = 1000
"""Items taken from the queue per tick: bounds the work between two chances to repaint."""
TICK_MS = 15
"""How often the queue is looked at when it was empty."""

Item = Event | Callable[[], None]


class QueueEvents:
    """The ``ChatEvents`` port for the window: every event goes into the queue as it is."""

    def __init__(self, items: queue.SimpleQueue[Item]) -> None:
        self._items = items

    def message_received(self, message: Message) -> None:
        self._items.put(Event("message", message=message))

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        self._items.put(Event("state", message=message, route=route))

    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None:
        """A ``delivery`` event: ``message`` in the state of its delivery to ``name``."""
        self._items.put(Event("delivery", message=message, name=recipient, route=route))

    def group_changed(self, group: GroupState, left: bool) -> None:
        self._items.put(Event("group", group=group, left=left))

    def message_withdrawn(self, message: Message, reason: str) -> None:
        """A ``withdrawn`` event: ``message`` as it was stored, ``text`` why."""
        self._items.put(Event("withdrawn", message=message, text=reason))

    def presence_changed(self, online: frozenset[str]) -> None:
        self._items.put(Event("presence", online=online))

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self._items.put(Event("registry", status=status, text=detail))

    def error(self, code: str, text: str) -> None:
        self._items.put(Event("error", text=text))

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        self._items.put(
            Event("identity_changed", name=name, key=key, previous=previous, verified=verified)
        )

    def identity_trusted(self, name: str, key: bytes) -> None:
        self._items.put(Event("identity_trusted", name=name, key=key))

    def message_request(self, name: str) -> None:
        self._items.put(Event("message_request", name=name))

    def transfer_changed(self, transfer: Transfer, rate: float) -> None:
        """A ``transfer`` event. Progress comes a few times a second per transfer; the
        presenter keeps only the latest of each transfer in a batch (one drained tick)."""
        self._items.put(Event("transfer", transfer=transfer, rate=rate))


class NetworkThread:
    """An asyncio loop on a thread of its own, for everything that talks to the network."""

    def __init__(self, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
        self._loop = (loop_factory or asyncio.new_event_loop)()
        self._thread = threading.Thread(target=self._run, name="chinwag-network", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what still runs, stop the loop and wait for the thread."""
        if not self._thread.is_alive():
            return

        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(cancel_the_rest()).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()


class QueueRunner:
    """The presenter's ``Runner``: work runs on the network thread, and its outcome comes back
    through the queue, after every event queued before it."""

    def __init__(self, network: NetworkThread, items: queue.SimpleQueue[Item]) -> None:
        self._network = network
        self._items = items

    def run(
        self,
        work: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> None:
        async def call() -> T:
            return await work()

        def report(future: Future[T]) -> None:
            # Every request gets an outcome, or the presenter would wait for it forever.
            if future.cancelled():
                self._items.put(lambda: failed(RuntimeError("cancelled: the app is closing")))
                return
            exc = future.exception()
            if exc is None:
                result = future.result()
                self._items.put(lambda: done(result))
            else:
                error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                self._items.put(lambda: failed(error))

        self._network.submit(call()).add_done_callback(report)


class Scheduler(Protocol):
    """The part of a Tk root the pump needs (``after``), so it can be tested without Tk."""

    def after(self, ms: int, func: Callable[[], None]) -> str: ...


class EventSink(Protocol):
    """Who shows events (the presenter); once ``closed``, the pump stops."""

    closed: bool

    def handle(self, events: Sequence[Event]) -> None: ...


class QueuePump:
    """Drains the queue on the Tk thread: events to the presenter in batches, outcomes in order."""

    def __init__(
        self, root: Scheduler, items: queue.SimpleQueue[Item], presenter: EventSink
    ) -> None:
        self._root = root
        self._items = items
        self._presenter = presenter
        self.stopped = False

    def start(self) -> None:
        self._root.after(TICK_MS, self.tick)

    def tick(self) -> None:
        """Handle up to :data:`MAX_PER_TICK` items; come back at once if more wait."""
        if self.stopped or self._presenter.closed:
            return
        events: list[Event] = []
        for _ in range(MAX_PER_TICK):
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Event):
                events.append(item)
                continue
            self._flush(events)  # outcomes come after the events queued before them
            events = []
            self._call(item)
            if self._presenter.closed:
                return  # that outcome closed the window: nothing may touch it any more
        self._flush(events)
        if not self._presenter.closed:
            self._root.after(1 if not self._items.empty() else TICK_MS, self.tick)

    def _flush(self, events: list[Event]) -> None:
        if events:
            try:
                self._presenter.handle(events)
            except Exception:
                log.exception("could not show %d event(s)", len(events))

    @staticmethod
    def _call(outcome: Callable[[], None]) -> None:
        try:
            outcome()
        except Exception:
            log.exception("could not show the outcome of a request")
