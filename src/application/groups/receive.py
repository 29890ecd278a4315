"""The receive path of group messages: who wrote it, under which membership, in which order.

A group message may reach us from any member (the author, or one handing over history), so
the session it came on proves nothing about it: its author's signature does, checked with the
key the group's log gives the author at the version the message was sent under. The checks, in
order (a refusal for now is retried by the sender's courier; one for good fails that delivery):

1. the group is known here, else it waits (``unknown_group``) and we ask the peer for a sync;
2. its version is one we reached, else it waits (``group_behind``) and we ask for a sync;
3. this user is a member of the group now, else it is refused (``refused``);
4. its author is a member at its version and the signature is theirs, else refused;
5. it is the author's next message (its sequence number is one past the author's last one
   stored): an earlier one is stored already (acknowledged again); a later one waits
   (``group_gap``) and we ask for a sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from chinwag.application.conversations import ConversationLedger
from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.groups.sync import GroupSync
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import GroupHave, Intake
from chinwag.application.ports.signatures import Signatures
from chinwag.application.quota import InboundQuota
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change
from chinwag.domain.group_message import author_key, signed_bytes
from chinwag.domain.message import Message

log = logging.getLogger(__name__)

REFUSED = ("refused", "the recipient refused it")
"""A group message refused for good (the same words as a refused direct message)."""

UNKNOWN_GROUP = "unknown_group"
GROUP_BEHIND = "group_behind"
GROUP_GAP = "group_gap"
OVER_QUOTA = "over_quota"


@dataclass
class _Verdicts:
    committed: list[UUID] = field(default_factory=list)
    deferred: dict[UUID, str] = field(default_factory=dict)
    rejected: dict[UUID, tuple[str, str]] = field(default_factory=dict)


class GroupIntake:
    """Takes group messages, group changes and haves from peers (for ``ReceiveMessages``)."""

    def __init__(
        self,
        book: GroupBook,
        progress: GroupProgress,
        messages: MessageRepository,
        ledger: ConversationLedger,
        events: ChatEvents,
        signatures: Signatures,
        sync: GroupSync,
        quota: InboundQuota,
    ) -> None:
        self._book = book
        self._progress = progress
        self._messages = messages
        self._ledger = ledger
        self._events = events
        self._signatures = signatures
        self._sync = sync
        self._quota = quota
        self._locks: dict[UUID, asyncio.Lock] = {}
        """One intake at a time per known group: the order rule reads, then advances, the
        authors' progress around a commit."""

    async def take(self, peer: str, me: str, messages: Sequence[Message], now: datetime) -> Intake:
        """Judge and store group messages from ``peer`` (valid messages of groups, read off
        the wire by ``ReceiveMessages``); say which are committed, wait or are refused."""
        verdicts = _Verdicts()
        by_group: dict[UUID, list[Message]] = {}
        for message in messages:
            assert message.group_id is not None
            by_group.setdefault(message.group_id, []).append(message)
        for group, batch in by_group.items():
            await self._take_group(peer, me, group, batch, now, verdicts)
        return Intake(verdicts.committed, verdicts.deferred, verdicts.rejected)

    async def changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        """Changes of a group's log from ``peer``: stored and judged by the book; when some
        follow a change we lack, ``peer`` is asked for the rest."""
        taken = await self._book.take(changes)
        for group in taken.unconnected:
            self._sync.request(peer, group)

    def have_received(self, peer: str, have: GroupHave) -> None:
        self._sync.have_received(peer, have)

    async def _take_group(
        self,
        peer: str,
        me: str,
        group: UUID,
        batch: list[Message],
        now: datetime,
        verdicts: _Verdicts,
    ) -> None:
        if self._book.declined(group):
            verdicts.rejected.update((m.id, REFUSED) for m in batch)
            return
        view = await self._book.view(group)
        if view is None:
            verdicts.deferred.update((m.id, UNKNOWN_GROUP) for m in batch)
            self._sync.request(peer, group)
            return
        lock = self._locks.setdefault(group, asyncio.Lock())
        async with lock:
            accepted, ask = await self._judge(peer, me, view, batch, verdicts)
            if accepted:
                await self._store(peer, group, accepted, now, verdicts)
        if ask:
            self._sync.request(peer, group)

    async def _judge(
        self, peer: str, me: str, view: GroupView, batch: list[Message], verdicts: _Verdicts
    ) -> tuple[list[Message], bool]:
        """The messages to store (in order), and whether to ask ``peer`` for a sync."""
        head = view.head
        progress = await self._progress.of(head.id)
        expected: dict[str, int] = {}
        accepted: list[Message] = []
        ask = False
        for message in batch:
            stamp = message.stamp
            assert stamp is not None
            if stamp.version > head.version:
                verdicts.deferred[message.id] = GROUP_BEHIND
                ask = True
                continue
            if not head.is_member(me):
                log.info("refused group message %s: we are not in group %s", message.id, head.id)
                verdicts.rejected[message.id] = REFUSED
                continue
            try:
                key = author_key(view.states, message, view.chain)
            except DomainError as exc:
                log.warning("refused group message %s from %s: %s", message.id, peer, exc)
                verdicts.rejected[message.id] = REFUSED
                continue
            if not self._signatures.verify(key, signed_bytes(message), stamp.signature):
                log.warning(
                    "refused group message %s from %s: not signed by %s",
                    message.id,
                    peer,
                    message.sender,
                )
                verdicts.rejected[message.id] = REFUSED
                continue
            last = expected.get(message.sender, progress.get(message.sender, 0))
            if stamp.seq <= last:
                verdicts.committed.append(message.id)  # stored already: acknowledged again
            elif stamp.seq > last + 1:
                verdicts.deferred[message.id] = GROUP_GAP
                ask = True
            else:
                expected[message.sender] = stamp.seq
                accepted.append(message)
        return accepted, ask

    async def _store(
        self,
        peer: str,
        group: UUID,
        accepted: list[Message],
        now: datetime,
        verdicts: _Verdicts,
    ) -> None:
        sizes = [len(m.body.encode("utf-8")) for m in accepted]
        # Members are not strangers: being in a group together is consent enough.
        admitted = self._quota.admit(peer, sizes, stranger=False, now=now)
        if admitted < len(accepted):
            log.info("%s is over its quota: %d group message(s) wait", peer, len(sizes) - admitted)
            verdicts.deferred.update((m.id, OVER_QUOTA) for m in accepted[admitted:])
            accepted = accepted[:admitted]
        if not accepted:
            return
        await self._ledger.group(group)
        stored = await self._messages.add(accepted)
        for message in accepted:
            assert message.stamp is not None
            self._progress.advance(group, message.sender, message.stamp.seq)
        verdicts.committed.extend(m.id for m in accepted)
        for message in stored:
            self._events.message_received(message)
