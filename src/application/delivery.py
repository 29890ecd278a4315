"""The courier: takes committed outgoing messages to their recipients, in order, pipelined.

Each recipient has a queue and, while it holds messages, one worker. The worker looks the
recipient up, hands batches to the transport with several batches in flight (a window), and
records every answer in the order the batches were sent. If the connection fails, everything not
yet acknowledged goes back to the front of the queue, in order, and is tried again after a pause;
the recipient stores by id, so a message that arrived but whose acknowledgement was lost is
stored once and acknowledged again. After ``max_attempts`` failures in a row without progress
the queued messages are marked ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from chinwag.application.errors import ChatError
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository, StateChange
from chinwag.application.ports.peer_transport import DeliveryReport, PeerTransport
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CourierSettings:
    batch_size: int = 256
    window: int = 8
    max_attempts: int = 3
    retry_delay: float = 0.5


@dataclass
class _Progress:
    recorded: int = 0


@dataclass
class _Recipient:
    queue: deque[Message] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


class Courier:
    """Delivers outgoing messages; the only writer of their states after ``pending``."""

    def __init__(
        self,
        directory: Directory,
        transport: PeerTransport,
        messages: MessageRepository,
        events: ChatEvents,
        settings: CourierSettings | None = None,
    ) -> None:
        self._directory = directory
        self._transport = transport
        self._messages = messages
        self._events = events
        self._settings = settings or CourierSettings()
        self._recipients: dict[str, _Recipient] = {}
        self._closed = False

    def enqueue(self, message: Message) -> None:
        """Queue a committed ``pending`` message for its recipient."""
        if self._closed:
            raise RuntimeError("the courier is closed")
        recipient = self._recipients.setdefault(message.recipient, _Recipient())
        recipient.queue.append(message)
        if recipient.worker is None or recipient.worker.done():
            recipient.worker = asyncio.create_task(
                self._run(message.recipient, recipient), name=f"courier:{message.recipient}"
            )

    def backlog(self) -> int:
        """Messages waiting for a first or a further try."""
        return sum(len(r.queue) for r in self._recipients.values())

    async def close(self) -> None:
        """Stop delivering; messages not yet acknowledged stay ``pending`` in the repository."""
        self._closed = True
        workers = [r.worker for r in self._recipients.values() if r.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._recipients.clear()

    async def _run(self, name: str, recipient: _Recipient) -> None:
        failures = 0
        while recipient.queue:
            progress = _Progress()
            try:
                address = await self._directory.lookup(name)
                await self._deliver_queue(name, address, recipient.queue, progress)
                failures = 0
            except Exception as exc:
                reason = str(exc) if isinstance(exc, ChatError) else f"internal error: {exc!r}"
                if not isinstance(exc, ChatError):
                    log.exception("delivery to %s failed unexpectedly", name)
                failures = 1 if progress.recorded else failures + 1
                if failures >= self._settings.max_attempts:
                    await self._fail_all(recipient.queue, reason)
                    return
                log.info("delivery to %s failed (%s); try %d again soon", name, reason, failures)
                await asyncio.sleep(self._settings.retry_delay * failures)

    async def _deliver_queue(
        self, name: str, address: PeerAddress, queue: deque[Message], progress: _Progress
    ) -> None:
        """Send everything queued and record the answers, in order, until the queue is empty.

        On failure every unacknowledged message is back at the front of ``queue``, in order.
        """
        inflight: deque[tuple[list[Message], asyncio.Task[DeliveryReport]]] = deque()
        try:
            while queue or inflight:
                while queue and len(inflight) < self._settings.window:
                    batch = [
                        queue.popleft() for _ in range(min(len(queue), self._settings.batch_size))
                    ]
                    task = asyncio.create_task(self._transport.deliver(name, address, batch))
                    self._announce(batch, MessageState.SENT)
                    inflight.append((batch, task))
                batch, task = inflight[0]
                report = await task
                inflight.popleft()
                await self._record(batch, report)
                progress.recorded += len(batch)
        except BaseException:
            # Put back what was not acknowledged, oldest first, ahead of anything queued since.
            unacked: list[Message] = []
            for batch, task in inflight:
                task.cancel()
                unacked.extend(batch)
            await asyncio.gather(*(t for _, t in inflight), return_exceptions=True)
            queue.extendleft(reversed(unacked))
            self._announce(unacked, MessageState.PENDING)
            raise

    def _announce(self, batch: Sequence[Message], state: MessageState) -> None:
        for message in batch:
            self._events.message_state_changed(message.model_copy(update={"state": state}))

    async def _record(self, batch: list[Message], report: DeliveryReport) -> None:
        changes: list[StateChange] = []
        for message in batch:
            if message.id in report.acknowledged:
                changes.append(StateChange(message.id, MessageState.DELIVERED))
            else:
                reason = report.rejected.get(message.id, "the recipient did not store it")
                changes.append(StateChange(message.id, MessageState.FAILED, reason))
        await self._messages.update_states(changes)
        for message, change in zip(batch, changes, strict=True):
            self._events.message_state_changed(
                message.model_copy(update={"state": change.state, "reason": change.reason})
            )

    async def _fail_all(self, queue: deque[Message], reason: str) -> None:
        batch = list(queue)
        queue.clear()
        await self._messages.update_states(
            [StateChange(m.id, MessageState.FAILED, reason) for m in batch]
        )
        for message in batch:
            self._events.message_state_changed(
                message.model_copy(update={"state": MessageState.FAILED, "reason": reason})
            )
        log.warning("gave up delivering %d message(s): %s", len(batch), reason)
