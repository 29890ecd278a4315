"""Received messages the group's log says, after the fact, do not count: taken out again.

A removal (or a leave) carries ``upto``, the departing member's last message that counts
(:func:`~chinwag.domain.group_message.departure_cut`); every member refuses the later ones. A
member that stored one of those *before* it learnt of the departure (the message raced the
removal and reached it first) would keep a message the others refuse, and members would differ
for good. So when a departure joins the chain, each member withdraws what it stored past the
cut: discarded from the history, and said (``message_withdrawn``), never silently.

A departed member's own client withdraws its own messages past its cut too (they were refused
everywhere, and told as failed): its numbering then goes on from the cut, so that once added
again its next message follows the last one the others hold (otherwise every member would
wait for the missing numbers for good). It runs under the group's lock (:class:`GroupLocks`),
which the intake holds while it judges and stores, and reads the chain as it is then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol
from uuid import UUID

from chinwag.application.groups.locks import GroupLocks
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_message import departing, within_cut
from chinwag.domain.message import Message

log = logging.getLogger(__name__)

PAGE = 500
"""Messages read (and discarded) at once."""


class Recount(Protocol):
    """What must forget its counts of a group's messages once some are taken out."""

    def forget(self, group: UUID) -> None: ...


class ChainView(Protocol):
    """The part of a group's view this needs: its id and canonical chain."""

    @property
    def id(self) -> UUID: ...

    @property
    def chain(self) -> tuple[Change, ...]: ...


def departures(before: ChainView | None, after: ChainView) -> list[Change]:
    """The removals and leaves with a cut that are on ``after``'s chain and were not on
    ``before``'s (every one of them when the group is new here)."""
    known = {change.hash() for change in before.chain} if before is not None else set()
    return [
        change
        for change in after.chain
        if departing(change) is not None and change.upto is not None and change.hash() not in known
    ]


class Withdrawals:
    """Runs after every change of a group's chain (a listener of the group book)."""

    def __init__(
        self,
        session: Session,
        messages: MessageRepository,
        events: ChatEvents,
        recount: Recount,
        locks: GroupLocks | None = None,
    ) -> None:
        self._session = session
        self._messages = messages
        self._events = events
        self._recount = recount
        self._locks = locks or GroupLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self._latest: dict[UUID, ChainView] = {}

    def changed(self, before: ChainView | None, after: ChainView) -> None:
        """The chain of ``after`` changed: withdraw, in the background, what a departure new
        on it says does not count (nothing when no departure is new: the common case)."""
        self._latest[after.id] = after
        new = departures(before, after)
        if new:
            authors = {name for change in new if (name := departing(change)) is not None}
            self._spawn(self._withdraw(after.id, authors))

    async def idle(self) -> None:
        """Until no withdrawal is under way (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _withdraw(self, group: UUID, authors: set[str]) -> None:
        try:
            async with self._locks.of(group):
                view = self._latest.get(group)
                if view is None:
                    return
                chain = tuple(view.chain)  # the chain as it is now, not as it was when told
                for change in departures(None, view):
                    author = departing(change)
                    if author is not None and author in authors and change.upto is not None:
                        await self._past_cut(group, chain, author, change.upto)
        except Exception:
            log.exception("could not withdraw messages of group %s past a departure", group)

    async def _past_cut(
        self, group: UUID, chain: tuple[Change, ...], author: str, upto: int
    ) -> None:
        after = upto
        while True:
            stored = await self._messages.group_messages(group, author, after, PAGE)
            if not stored:
                return
            gone = [m for m in stored if not within_cut(chain, m)]
            if gone:
                discarded = await self._messages.discard([m.id for m in gone])
                self._recount.forget(group)
                for message in discarded:
                    log.info("withdrew %s's message %s of group %s", author, message.id, group)
                    self._events.message_withdrawn(message, _reason(chain, message))
            stamp = stored[-1].stamp
            if stamp is None or len(stored) < PAGE:
                return
            after = stamp.seq


def _reason(chain: tuple[Change, ...], message: Message) -> str:
    """Why, for people: who left or was removed, as the chain says after the message's version."""
    assert message.stamp is not None
    name = chain[0].name or "the group"
    for change in chain[message.stamp.version + 1 :]:
        if change.kind is ChangeKind.RENAME and change.name:
            name = change.name
        if departing(change) == message.sender:
            how = "left" if change.kind is ChangeKind.LEAVE else "was removed from"
            return f"sent after {message.sender} {how} {name}"
    return f"it does not count in {name}"
