"""The receive path of group messages: who wrote it, under which membership, in which order.

A group message may reach us from any member (the author, or one handing over history), so
the session it came on proves nothing about it: its author's signature does, checked with the
key the group's log gives the author at the version the message was sent under. The checks, in
order (a refusal for now is retried by the sender's courier; one for good fails that delivery):

1. the group is known here, else it waits (``unknown_group``) and we ask the peer for a sync;
2. its version is one we reached, else it waits (``group_behind``) and we ask for a sync;
3. this user is a member of the group now, else it is refused (``refused``);
4. its author is a member at its version and the signature is theirs, else refused;
5. its place in the author's order (its sequence number) is one stored already: acknowledged
   again if the message stored there is this very one, refused if it is another (the author
   signed two messages with one number, and the first one here counts);
6. the key the log gives the author is the one this user believes for that name (pinned on
   first sight, as any first contact), else it waits (``identity_changed``) until the user
   accepts that key; a message "from" this user signed with another key than theirs is refused;
7. it is the author's next message: a later one waits (``group_gap``) and we ask for a sync;
8. a file offer is no larger than this user takes (``FileLimits``), else it is refused
   (``file_too_large``) and its author's order goes past it (as for a refusal at step 5, so
   their later messages are not held for good).

Stored offers go to the transfers engine (shown, perhaps accepted at once).

A message is acknowledged only once it is stored: one whose id another message holds (a
member may send her own message under an id she saw, before the genuine one arrives) is
refused, and the author's order goes past it, so their later messages are not held for good.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

from chinwag.application.conversations import ConversationLedger
from chinwag.application.files.engine import Transfers
from chinwag.application.files.offers import offer_refusal
from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.keys import MemberPins
from chinwag.application.groups.locks import GroupLocks
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.groups.signed import check_signed
from chinwag.application.groups.sync import GroupSync
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import GroupHave, Intake
from chinwag.application.ports.signatures import Signatures
from chinwag.application.quota import InboundQuota
from chinwag.application.refusals import (
    GROUP_BEHIND,
    GROUP_GAP,
    IDENTITY_CHANGED,
    OVER_QUOTA,
    REFUSED,
    UNKNOWN_GROUP,
)
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import Message

log = logging.getLogger(__name__)

__all__ = ["REFUSED", "GroupIntake"]

SLOTS_READ: Final = 256
"""Stored messages of one author read at once to compare with messages sent again."""


@dataclass
class _Verdicts:
    committed: list[UUID] = field(default_factory=list)
    deferred: dict[UUID, str] = field(default_factory=dict)
    rejected: dict[UUID, tuple[str, str]] = field(default_factory=dict)


@dataclass
class _Judged:
    accepted: list[Message] = field(default_factory=list)
    """The authors' next messages, in order: to store."""
    again: list[Message] = field(default_factory=list)
    """Messages whose place is stored already: this one, or another?"""
    ask: bool = False


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
        pins: MemberPins,
        locks: GroupLocks | None = None,
        files: Transfers | None = None,
    ) -> None:
        self._files = files
        self._book = book
        self._progress = progress
        self._messages = messages
        self._ledger = ledger
        self._events = events
        self._signatures = signatures
        self._sync = sync
        self._quota = quota
        self._pins = pins
        self._locks = locks or GroupLocks()
        """One intake at a time per known group (the order rule reads, then advances, the
        counts), and never beside a withdrawal in that group (see :class:`GroupLocks`)."""

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
        async with self._locks.of(group):
            # Read again under the lock: a removal committed meanwhile has its withdrawal
            # waiting for this lock, and this batch must be judged by its chain.
            view = await self._book.view(group) or view
            judged = await self._judge(peer, me, view, batch, verdicts)
            judged.accepted = self._sized(peer, me, group, judged.accepted, verdicts)
            if judged.again:
                await self._again(peer, group, judged.again, verdicts)
            if judged.accepted:
                await self._store(peer, group, judged.accepted, now, verdicts)
        if judged.ask:
            self._sync.request(peer, group)

    async def _judge(
        self, peer: str, me: str, view: GroupView, batch: list[Message], verdicts: _Verdicts
    ) -> _Judged:
        """Checks 2 to 7 of the module's text, in order; what is left to store or compare."""
        head = view.head
        stored = dict(await self._progress.of(head.id))  # fixed: the checks below await
        judged = _Judged()
        expected: dict[str, int] = {}
        taking: dict[tuple[str, int], Message] = {}
        believed: dict[tuple[str, bytes], bool] = {}
        for message in batch:
            stamp = message.stamp
            assert stamp is not None
            author = message.sender
            if stamp.version > head.version:
                verdicts.deferred[message.id] = GROUP_BEHIND
                judged.ask = True
                continue
            if not head.is_member(me):
                log.info("refused group message %s: we are not in group %s", message.id, head.id)
                verdicts.rejected[message.id] = REFUSED
                continue
            try:
                key = check_signed(view, message, self._signatures)
            except DomainError as exc:  # no member then, or not signed by the author
                log.warning("refused group message %s from %s: %s", message.id, peer, exc)
                verdicts.rejected[message.id] = REFUSED
                continue
            if stamp.seq <= stored.get(author, 0):
                judged.again.append(message)
                continue
            if author == me and key != self._book.own_key:
                log.warning("refused group message %s from %s: signed as us with another key",
                            message.id, peer)  # fmt: skip
                verdicts.rejected[message.id] = REFUSED
                continue
            if author != me and not await self._believed(author, key, believed):
                log.info("group message %s of %s held: the group gives %s a key not accepted "
                         "here", message.id, head.id, author)  # fmt: skip
                verdicts.deferred[message.id] = IDENTITY_CHANGED
                continue
            first = taking.get((author, stamp.seq))
            if first is not None:  # its place is taken earlier in this batch
                if first.id != message.id:
                    _refuse_another(verdicts, message, peer, "in the same batch")
                continue  # the very same message twice: committed with the first
            if stamp.seq > expected.get(author, stored.get(author, 0)) + 1:
                verdicts.deferred[message.id] = GROUP_GAP
                judged.ask = True
                continue
            expected[author] = stamp.seq
            taking[(author, stamp.seq)] = message
            judged.accepted.append(message)
        return judged

    def _sized(
        self, peer: str, me: str, group: UUID, accepted: list[Message], verdicts: _Verdicts
    ) -> list[Message]:
        """Check 8: offers larger than this user takes are refused, their places passed."""
        if self._files is None:
            return accepted
        kept: list[Message] = []
        for message in accepted:
            refusal = None
            if message.file is not None:
                refusal = offer_refusal(message.file, self._files.limits, me)
            if refusal is None:
                kept.append(message)
                continue
            assert message.stamp is not None
            log.info("refused the file offer %s of %s from %s: %s", message.id, message.sender,
                     peer, refusal[1])  # fmt: skip
            verdicts.rejected[message.id] = refusal
            self._progress.advance(group, message.sender, message.stamp.seq)
        return kept

    async def _believed(
        self, author: str, key: bytes, believed: dict[tuple[str, bytes], bool]
    ) -> bool:
        """Whether ``key`` is the key believed for ``author`` (asked once per batch)."""
        known = believed.get((author, key))
        if known is None:
            known = believed[(author, key)] = await self._pins.group_member(author, key)
        return known

    async def _again(
        self, peer: str, group: UUID, messages: list[Message], verdicts: _Verdicts
    ) -> None:
        """Messages whose place in their author's order is taken here: acknowledged again if
        the message stored there is this one, refused if it is another."""
        by_author: dict[str, list[Message]] = {}
        for message in messages:
            by_author.setdefault(message.sender, []).append(message)
        for author, theirs in by_author.items():
            seqs = sorted({m.stamp.seq for m in theirs if m.stamp is not None})
            slots = await self._slots(group, author, seqs)
            for message in theirs:
                assert message.stamp is not None
                held = slots.get(message.stamp.seq)
                if held is not None and _same(held, message):
                    verdicts.committed.append(message.id)
                else:
                    _refuse_another(verdicts, message, peer, "stored here")

    async def _slots(self, group: UUID, author: str, seqs: list[int]) -> dict[int, Message]:
        """``author``'s stored messages of ``group`` at the sequence numbers ``seqs`` (sorted),
        read :data:`SLOTS_READ` at a time from the first one not read yet."""
        found: dict[int, Message] = {}
        index = 0
        while index < len(seqs):
            start = seqs[index]
            limit = min(seqs[-1] - start + 1, SLOTS_READ)
            page = await self._messages.group_messages(group, author, start - 1, limit)
            for stored in page:
                if stored.stamp is not None:
                    found[stored.stamp.seq] = stored
            last = page[-1].stamp.seq if page and page[-1].stamp is not None else start
            if len(page) < limit:
                break  # nothing more of theirs is stored
            while index < len(seqs) and seqs[index] <= last:
                index += 1
        return found

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
        new = {message.id for message in stored}
        for message in accepted:
            assert message.stamp is not None
            # Past a message whose id another one holds too: it is refused, and waiting for it
            # would hold every later message of its author here for good.
            self._progress.advance(group, message.sender, message.stamp.seq)
        for message in accepted:
            if message.id in new:
                verdicts.committed.append(message.id)
                continue
            other = await self._messages.get(message.id)
            if other is not None and _same(other, message):
                verdicts.committed.append(message.id)
            else:
                _refuse_another(verdicts, message, peer, "under its id")
        for message in stored:
            self._events.message_received(message)
        if self._files is not None:
            await self._files.offered(stored)


def _same(stored: Message, message: Message) -> bool:
    """Whether ``stored`` is ``message`` (the same group message, as signed)."""
    if stored.group_id != message.group_id or stored.stamp is None or message.stamp is None:
        return False
    return stored.stamp.signature == message.stamp.signature and signed_bytes(
        stored
    ) == signed_bytes(message)


def _refuse_another(verdicts: _Verdicts, message: Message, peer: str, where: str) -> None:
    assert message.stamp is not None
    log.warning("refused group message %s of %s (number %d) from %s: another message is %s",
                message.id, message.sender, message.stamp.seq, peer, where)  # fmt: skip
    verdicts.rejected[message.id] = REFUSED
