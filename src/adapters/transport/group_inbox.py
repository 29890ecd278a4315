"""Group sync frames from one peer, handed to the application off the read loop.

A ``group_have`` or ``group_changes`` frame may cost the application the disk and the network
(storing changes, answering with what the peer lacks); the connection's read loop must not wait
for that, nor may a peer that floods such frames make us hold them without bound. So each peer
(by its authenticated name, whichever of its connections the frames come on) has a
:class:`GroupInbox` with two lanes, each handing one thing at a time to the application:

- **haves**: only the newest pending ``group_have`` of each group is kept (an older one says
  nothing the newer does not), at most :data:`MAX_PENDING_AUTHORS` author entries in all;
- **changes**: frames in the order they came, at most :data:`MAX_PENDING_CHANGES` changes (a
  member counts as one) waiting; one frame is always taken when nothing waits.

Past a bound the frame is dropped and logged: sync is a conversation of hints, and the next
``group_have`` (on presence, on a deferral) asks again. Dropping cannot deadlock two peers that
both wait on each other, which stopping the read could.

Changes keep their place before messages: the read loop waits for the changes that came before
a ``messages`` frame to be handed over before it hands the messages, so a message sent under a
membership version the same peer just sent the changes of is not deferred for lack of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final
from uuid import UUID

from chinwag.application.errors import ChatError
from chinwag.application.ports.peer_transport import GroupHave, InboundHandler
from chinwag.domain.group import Change

log = logging.getLogger("chinwag.adapters.transport.tcp")

MAX_PENDING_AUTHORS: Final = 4096
"""Author entries of the ``group_have`` frames waiting from one peer (a have counts one more):
enough for a burst of a hundred groups of forty members; a flood past it is dropped."""

MAX_PENDING_CHANGES: Final = 2048
"""Changes (each member a create lists counting one more) waiting from one peer: a whole log of
a full group, and more."""


def weight(changes: Sequence[Change]) -> int:
    """What ``changes`` count against :data:`MAX_PENDING_CHANGES`."""
    return sum(1 + len(change.members) for change in changes)


class GroupInbox:
    """One peer's group frames on their way to the application (see the module docstring).
    ``on_idle`` is called when nothing waits or is in hand any more, so the owner can forget
    the inbox."""

    def __init__(
        self,
        peer: str,
        handler: InboundHandler,
        on_idle: Callable[[GroupInbox], None] | None = None,
        *,
        max_authors: int = MAX_PENDING_AUTHORS,
        max_changes: int = MAX_PENDING_CHANGES,
    ) -> None:
        self.peer = peer
        self._handler = handler
        self._on_idle = on_idle
        self._max_authors = max_authors
        self._max_changes = max_changes
        self._haves: dict[UUID, GroupHave] = {}
        self._have_weight = 0
        self._changes: deque[tuple[list[Change], int]] = deque()
        self._change_weight = 0
        self._have_task: asyncio.Task[None] | None = None
        self._change_task: asyncio.Task[None] | None = None
        self._changes_done = asyncio.Event()
        self._changes_done.set()
        self.dropped = 0
        """Frames dropped past the bounds (for tests and logs)."""

    # -- taking frames (synchronous: called by the read loop's dispatcher) ------------------

    def have(self, have: GroupHave) -> None:
        """Keep ``have`` (replacing a pending one of its group) for the application."""
        cost = 1 + len(have.authors)
        replaced = self._haves.pop(have.group, None)
        if replaced is not None:
            self._have_weight -= 1 + len(replaced.authors)
        if self._haves and self._have_weight + cost > self._max_authors:
            if replaced is not None:  # keep what was there: the older still asks for a sync
                self._haves[have.group] = replaced
                self._have_weight += 1 + len(replaced.authors)
            self._drop("group_have", have.group)
            return
        self._haves[have.group] = have
        self._have_weight += cost
        if self._have_task is None:
            self._have_task = asyncio.create_task(self._hand_haves(), name=f"haves:{self.peer}")

    def changes(self, changes: list[Change]) -> None:
        """Queue ``changes`` (one frame's) for the application, after those before them."""
        cost = weight(changes)
        if self._changes and self._change_weight + cost > self._max_changes:
            self._drop("group_changes", changes[0].group if changes else None)
            return
        self._changes.append((changes, cost))
        self._change_weight += cost
        self._changes_done.clear()
        if self._change_task is None:
            self._change_task = asyncio.create_task(
                self._hand_changes(), name=f"changes:{self.peer}"
            )

    async def changes_handed(self) -> None:
        """Return once every change taken so far is handed over (dropped ones count)."""
        await self._changes_done.wait()

    @property
    def idle(self) -> bool:
        return self._have_task is None and self._change_task is None

    async def close(self) -> None:
        """Drop what waits and stop what is in hand."""
        self._haves.clear()
        self._changes.clear()
        tasks = [t for t in (self._have_task, self._change_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._changes_done.set()

    # -- handing over (one task per lane, while something waits) ----------------------------

    async def _hand_haves(self) -> None:
        try:
            while self._haves:
                group = next(iter(self._haves))
                have = self._haves.pop(group)
                self._have_weight -= 1 + len(have.authors)
                await self._call("group_have", self._handler.group_have_received(self.peer, have))
        finally:
            self._have_task = None
            self._maybe_idle()

    async def _hand_changes(self) -> None:
        try:
            while self._changes:
                changes, cost = self._changes.popleft()
                self._change_weight -= cost
                await self._call(
                    "group_changes", self._handler.group_changes_received(self.peer, changes)
                )
        finally:
            self._change_task = None
            self._changes_done.set()
            self._maybe_idle()

    async def _call(self, what: str, call: Coroutine[Any, Any, None]) -> None:
        """Await the application; what it raises is logged, and the lane goes on."""
        try:
            await call
        except ChatError as exc:
            log.info("peer %s: %s not taken: %s", self.peer, what, exc)
        except Exception:
            log.exception("peer %s: the application failed on a %s frame", self.peer, what)

    def _drop(self, what: str, group: UUID | None) -> None:
        self.dropped += 1
        if self.dropped in (1, 10) or not self.dropped % 1000:  # a flood is not logged whole
            log.warning(
                "peer %s sends %s frames faster than they are taken; dropped %d so far "
                "(this one of group %s)",
                self.peer,
                what,
                self.dropped,
                group,
            )

    def _maybe_idle(self) -> None:
        if self.idle and self._on_idle is not None:
            self._on_idle(self)


class GroupInboxes:
    """Every peer's :class:`GroupInbox` while it has something waiting or in hand: what the
    accepting side's read loops hand group frames to."""

    def __init__(self, handler: InboundHandler, **bounds: int) -> None:
        self._handler = handler
        self._bounds = bounds
        self._inboxes: dict[str, GroupInbox] = {}

    def of(self, peer: str) -> GroupInbox:
        inbox = self._inboxes.get(peer)
        if inbox is None:
            inbox = GroupInbox(peer, self._handler, self._forget, **self._bounds)
            self._inboxes[peer] = inbox
        return inbox

    async def changes_handed(self, peer: str) -> None:
        """Return once the changes ``peer`` sent so far are handed over (at once if none)."""
        inbox = self._inboxes.get(peer)
        if inbox is not None:
            await inbox.changes_handed()

    def __len__(self) -> int:
        return len(self._inboxes)

    def _forget(self, inbox: GroupInbox) -> None:
        if self._inboxes.get(inbox.peer) is inbox:
            del self._inboxes[inbox.peer]

    async def close(self) -> None:
        inboxes = list(self._inboxes.values())
        self._inboxes.clear()
        for inbox in inboxes:
            await inbox.close()
