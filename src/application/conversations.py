"""Makes sure a conversation is stored once before its first message, and that the messages of
one author in one conversation are stored and handed over in the order they were sent.

A group's conversation has the group's id; its turns are taken as ``take_turn(me, str(group))``
(a group id is 36 characters, longer than any username, so it never names a direct one)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.domain.conversation import Conversation, direct_conversation_id
from chinwag.domain.message import Message

log = logging.getLogger(__name__)


class ConversationLedger:
    """Saves each conversation once per run, before any of its messages is stored.

    A crash between the two writes leaves at worst an empty conversation, never an orphaned
    message. Concurrent callers for the same conversation share one write; once it is done,
    asking again costs a dictionary lookup (this is on the path of every message).
    """

    def __init__(self, conversations: ConversationRepository) -> None:
        self._conversations = conversations
        self._saved: dict[tuple[str, str], tuple[Conversation, asyncio.Future[None]]] = {}
        self._groups: dict[UUID, tuple[Conversation, asyncio.Future[None]]] = {}
        self._order = OutgoingOrder()
        self._direct_listeners: list[Callable[[str], None]] = []

    def on_direct(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(peer)`` the first time this run a direct conversation is asked for
        (new or stored before: the watch list watches its peer). Called inside a send, so it
        must be quick and must not fail it (a failure is logged)."""
        self._direct_listeners.append(listener)

    async def known(self, me: str, peer: str) -> bool:
        """Whether ``me`` has a conversation with ``peer`` (stored, or being stored)."""
        if (me, peer) in self._saved:
            return True
        return await self._conversations.get(direct_conversation_id(me, peer)) is not None

    async def direct(self, me: str, peer: str) -> Conversation:
        """The direct conversation of ``me`` and ``peer``, stored before this returns."""
        if (me, peer) not in self._saved:
            for listener in self._direct_listeners:
                try:
                    listener(peer)
                except Exception:
                    log.exception("a listener of new conversations failed")
        return await _saved_once(
            self._saved, (me, peer), lambda: Conversation.direct(me, peer), self._conversations
        )

    async def group(self, group: UUID) -> Conversation:
        """The conversation of group ``group`` (kind ``group``, the group's id), stored before
        this returns."""
        return await _saved_once(
            self._groups, group, lambda: Conversation.of_group(group), self._conversations
        )

    def take_turn(self, me: str, peer: str) -> Turn:
        """A place in the order of ``me``'s messages to ``peer``: see :class:`OutgoingOrder`."""
        return self._order.take_turn(me, peer)


_K = TypeVar("_K")


async def _saved_once(
    saved: dict[_K, tuple[Conversation, asyncio.Future[None]]],
    key: _K,
    make: Callable[[], Conversation],
    conversations: ConversationRepository,
) -> Conversation:
    """The conversation of ``key``, saved once (concurrent callers share the write)."""
    entry = saved.get(key)
    if entry is None:
        conversation = make()
        entry = (conversation, asyncio.ensure_future(conversations.save([conversation])))
        saved[key] = entry
    conversation, saving = entry
    if saving.done() and saving.exception() is None:
        return conversation
    try:
        await asyncio.shield(saving)
    except Exception:
        # Let the next caller try again rather than remember a failure forever.
        if saved.get(key) is entry:
            del saved[key]
        raise
    return conversation


Store = Callable[[list[Message]], Awaitable[None]]
"""Commits messages of one conversation and hands them to the courier, in the order given."""


class Turn:
    """One send's place in its conversation's sequence, taken when the send begins.

    :meth:`store` waits for every earlier turn of the conversation to be stored (or dropped),
    and :meth:`drop` gives the place up (the send was refused before anything was stored).
    """

    def __init__(self, line: _Line) -> None:
        self._line = line
        self.messages: list[Message] | None = None
        self.store_with: Store | None = None
        self.dropped = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def store(self, messages: list[Message], store: Store) -> None:
        """Have ``store`` commit and hand over ``messages`` once every earlier turn's messages
        are; return when it has (its refusal is raised here). ``store`` may be given the
        messages of several ready turns at once, in turn order: their commit is shared."""
        if self.dropped or self.messages is not None:
            raise RuntimeError("a turn is stored or dropped once")
        self.messages, self.store_with = messages, store
        self._line.advance()
        await self.done  # if the sender is cancelled, its messages are still stored

    def drop(self) -> None:
        """Give the place up; later turns no longer wait for it. Nothing once stored."""
        if self.messages is None and not self.dropped:
            self.dropped = True
            self._line.advance()


class _Line:
    """The turns of one conversation, and whether a batch of them is being stored."""

    def __init__(self, order: OutgoingOrder, key: tuple[str, str]) -> None:
        self._order = order
        self._key = key
        self.turns: deque[Turn] = deque()
        self._busy = False
        self._storing: asyncio.Future[None] | None = None

    def advance(self) -> None:
        head = self.turns[0] if self.turns else None
        if not self._busy and head is not None and (head.dropped or head.messages is not None):
            self._busy = True
            # As a task, so that every turn that becomes ready in this loop pass joins the batch.
            self._storing = asyncio.ensure_future(self._store_ready())

    def _take_ready(self) -> list[Turn]:
        """The ready turns at the front (skipping dropped ones) that share one way to store."""
        ready: list[Turn] = []
        while self.turns:
            turn = self.turns[0]
            if turn.dropped:
                self.turns.popleft()
            elif turn.messages is not None and (
                not ready or turn.store_with == ready[0].store_with
            ):
                ready.append(self.turns.popleft())
            else:
                break
        return ready

    async def _store_ready(self) -> None:
        try:
            while batch := self._take_ready():
                store = batch[0].store_with
                assert store is not None
                try:
                    await store([m for turn in batch for m in turn.messages or ()])
                except Exception as exc:
                    for turn in batch:
                        if not turn.done.done():  # (cancelled with its sender)
                            turn.done.set_exception(exc)
                            turn.done.exception()  # retrieved: no warning if nobody waits
                else:
                    for turn in batch:
                        if not turn.done.done():
                            turn.done.set_result(None)
        finally:
            self._busy = False
            if not self.turns:
                self._order.forget(self._key, self)


class OutgoingOrder:
    """One sequence per author per conversation, as a rule rather than a result of scheduling.

    A send takes its turn when it begins; however long its checks take (a registry lookup for
    one, none for the next), its messages are committed, and then handed to the courier, after
    those of every earlier turn of the conversation and before those of every later one. Ready
    turns are stored together, so sends that arrive faster than commits complete share them.
    """

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str], _Line] = {}

    def take_turn(self, me: str, peer: str) -> Turn:
        line = self._lines.get((me, peer))
        if line is None:
            line = self._lines[(me, peer)] = _Line(self, (me, peer))
        turn = Turn(line)
        line.turns.append(turn)
        return turn

    def forget(self, key: tuple[str, str], line: _Line) -> None:
        if self._lines.get(key) is line:
            del self._lines[key]
