"""What the courier writes down about deliveries: their states, and what the user is told.

An entry of the courier's queue for one recipient is a message carrying the state of its
delivery to that recipient. Two kinds, told apart by the message:

- a one-to-one message has one delivery, to its own recipient: it is recorded naming no
  recipient (``StateChange.recipient`` is None) and told as ``message_state_changed``, exactly as
  before deliveries had a table of their own;
- a group message has one delivery per member it was sent to: each is recorded by the member's
  name and told as ``delivery_state_changed``; the message's summary (the least advanced of its
  deliveries, kept by the repository) is told as ``message_state_changed`` each time it changes,
  right after the delivery change that changed it. A group message's delivery is never told as
  ``message_state_changed``: a client would take one member's state for the whole message's.

``sent``, and ``pending`` again after a broken connection, are told but not recorded (a crash
leaves them ``pending`` in the outbox, which is what they are then).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from uuid import UUID

from chinwag.application.errors import PeerRefused
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository, StateChange
from chinwag.application.ports.peer_transport import DeliveryReport, Route
from chinwag.domain.message import Message, MessageState


class DeliveryRecords:
    """Records and tells the states of one user's deliveries (for the courier, which is their
    only writer once they are stored)."""

    def __init__(self, messages: MessageRepository, events: ChatEvents) -> None:
        self._messages = messages
        self._events = events

    def tell(self, name: str, message: Message, route: Route | None = None) -> None:
        """Tell the user that the delivery of ``message`` to ``name`` is in ``message``'s state
        now (nothing is recorded)."""
        if message.group_id is None:
            self._events.message_state_changed(message, route)
        else:
            self._events.delivery_state_changed(message, name, route)

    def announce(
        self, name: str, batch: Sequence[Message], state: MessageState, route: Route | None = None
    ) -> None:
        """Tell that every message of ``batch`` is on its way to ``name`` in ``state``."""
        for message in batch:
            self.tell(name, message.with_state(state), route)

    async def record(self, name: str, batch: list[Message], report: DeliveryReport) -> None:
        """Record ``name``'s answer to ``batch``: acknowledged ones are delivered, the others
        failed (with the recipient's reason).

        Deferred ones are not settled: the others are, then only the deferred ones are left in
        ``batch`` and ``PeerRefused`` is raised with the recipient's reason (the courier puts
        them back at the front of the queue, and they wait)."""
        deferred = [m for m in batch if m.id in report.deferred]
        settled = [
            message.with_state(MessageState.DELIVERED)
            if message.id in report.acknowledged
            else message.with_state(
                MessageState.FAILED,
                report.rejected.get(message.id, "the recipient did not store it"),
            )
            for message in batch
            if message.id not in report.deferred
        ]
        if settled:
            self._tell_all(name, settled, await self._write(name, settled), report.route)
        if deferred:
            batch[:] = deferred
            reason = report.deferred[deferred[0].id]
            raise PeerRefused(reason, f"the recipient will take no more for now ({reason})")

    async def queue_all(self, name: str, queue: deque[Message], reason: str) -> None:
        """Record that everything in ``name``'s ``queue`` is ``queued`` for ``reason`` now (it
        stays in the queue, in its new state). A delivery already queued for that reason is
        neither recorded nor told again."""
        changed = [
            m
            if m.state is MessageState.QUEUED and m.reason == reason
            else m.model_copy(update={"reason": reason})  # still waiting, for another reason
            if m.state is MessageState.QUEUED
            else m.with_state(MessageState.QUEUED, reason)
            for m in queue
        ]
        news = [m for m, old in zip(changed, queue, strict=True) if m is not old]
        summaries = await self._write(name, news) if news else {}
        for _ in changed:  # what was enqueued during the write stays behind them
            queue.popleft()
        queue.extendleft(reversed(changed))
        self._tell_all(name, news, summaries)

    async def _write(self, name: str, changed: Sequence[Message]) -> dict[UUID, StateChange]:
        """Record the new states ``changed`` carry, for ``name``'s deliveries, in one write;
        the summaries it changed, by message id."""
        summaries = await self._messages.update_states([_change(name, m) for m in changed])
        return {s.id: s for s in summaries if s.recipient is None}

    def _tell_all(
        self,
        name: str,
        changed: Sequence[Message],
        summaries: Mapping[UUID, StateChange],
        route: Route | None = None,
    ) -> None:
        """Tell each change (``route`` with the delivered ones), each followed by its group
        message's summary if the write changed it."""
        for message in changed:
            delivered = message.state is MessageState.DELIVERED
            self.tell(name, message, route if delivered else None)
            summary = summaries.get(message.id) if message.group_id is not None else None
            if summary is not None:
                self._events.message_state_changed(
                    message.model_copy(update={"state": summary.state, "reason": summary.reason})
                )


def _change(name: str, message: Message) -> StateChange:
    """The state ``message`` carries, for its delivery to ``name`` (named only for a group
    message: a one-to-one message's one delivery is its recipient's)."""
    recipient = None if message.group_id is None else name
    return StateChange(message.id, message.state, message.reason, recipient)
