from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from pydantic import ValidationError

from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.errors import FileRefused
from chinwag.application.files.offers import offer_refusal
from chinwag.application.files.service import FileService
from chinwag.application.groups.receive import GroupIntake
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake, TransferNotice
from chinwag.application.quota import InboundQuota
from chinwag.application.refusals import REFUSED
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.validation import refusal_text
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import DomainError, InvalidMessage
from chinwag.domain.group import Change
from chinwag.domain.message import GroupStamp, Message, MessageState

log = logging.getLogger(__name__)

MAX_CLOCK_AHEAD = timedelta(days=1)
"""How far ahead of our clock the sender of a direct message may date it (``sent_at``); later
ones are refused, so nobody can pin their messages to the bottom of a conversation (or out of
any date range).

Not group messages: their time is signed by their author, they are handed on by any member,
and every member must take the same messages whatever its own clock. A refusal here, where the
other members took the message, left a gap in its author's numbering at this member only, and
every later message of that author waited behind it (``group_gap``) for good. A group
message's time is the author's claim: it is kept as signed (handing it on needs the signature);
a conversation keeps its messages in the order they were stored, so the claim moves none of
them, and ``received_at`` says when this device got it."""


class ReceiveMessages:
    """Store what a peer sent, then say which ids may be acknowledged: only committed ones.

    This is the transport's ``InboundHandler``. What the transport hands over is only what the
    peer claims (``Incoming``): the domain's rules are applied here, and here alone, as is the
    conversation a message goes to (the direct one with the peer, or its group's), so every
    transport treats a message alike. Group messages, changes and haves go on to the groups'
    intake (:class:`~chinwag.application.groups.GroupIntake`): without one (``groups`` None),
    group messages are refused and the rest ignored. A message seen before (same id) is not
    stored or shown again, but is acknowledged again: its first acknowledgement may have been
    lost.

    Files: an offer larger than this user takes (``FileLimits``) is refused for good
    (``file_too_large``); offers stored are handed to the transfers engine (shown, perhaps
    accepted at once). Requests for our files and notices about transfers go to the
    :class:`FileService`; without one (``files`` None) they are refused as unknown.
    """

    def __init__(
        self,
        session: Session,
        messages: MessageRepository,
        ledger: ConversationLedger,
        events: ChatEvents,
        trust: TrustPolicy,
        courier: Courier,
        clock: Clock,
        quota: InboundQuota,
        groups: GroupIntake | None = None,
        files: FileService | None = None,
    ) -> None:
        self._quota = quota
        self._groups = groups
        self._files = files
        self._requests_told: set[str] = set()
        self._held_from: dict[str, UUID] = {}
        """Per peer, the first of their messages refused for now: it must come first again."""
        self._session = session
        self._messages = messages
        self._ledger = ledger
        self._events = events
        self._trust = trust
        self._courier = courier
        self._clock = clock

    async def authorize(self, peer: str, key: bytes) -> None:
        """Whether ``peer``, proven to hold ``key``, may deliver to us (see ``TrustPolicy``).

        A peer that reaches us is reachable: what waits to reach it is tried again soon (the
        courier decides what this news may end: the transport asks before every batch, and
        the courier's tries must not follow the peer's)."""
        self._session.require_user()
        await self._trust.incoming(peer, key)
        self._courier.reached(peer)

    async def execute(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        me = self._session.require_user()
        now = self._clock.now()
        direct: list[Message] = []
        grouped: list[Message] = []
        rejected: dict[UUID, tuple[str, str]] = {}
        for incoming in messages:
            try:
                message = _read(incoming, me, peer, now)
            except (ValidationError, DomainError) as exc:
                rejected[incoming.id] = ("invalid_message", refusal_text(exc))
                continue
            if message.group_id is None and (message.sender != peer or message.recipient != me):
                log.warning("refused message %s from %s: not from them to us", message.id, peer)
                rejected[message.id] = REFUSED
                continue
            if message.group_id is None and message.sent_at > now + MAX_CLOCK_AHEAD:
                log.warning("refused message %s from %s: sent in the future", message.id, peer)
                rejected[message.id] = REFUSED
                continue
            if message.group_id is None and message.file is not None and self._files:
                refusal = offer_refusal(message.file, self._files.engine.limits, me)
                if refusal is not None:
                    log.info("refused the file offer %s from %s: %s", message.id, peer,
                             refusal[1])  # fmt: skip
                    rejected[message.id] = refusal
                    continue
            (direct if message.group_id is None else grouped).append(message)
        intake = Intake(committed=[], rejected=rejected)
        if direct:
            intake = _merged(intake, await self._direct(peer, me, direct, now))
        if grouped and self._groups is None:
            rejected.update((m.id, REFUSED) for m in grouped)
        elif grouped and self._groups is not None:
            intake = _merged(intake, await self._groups.take(peer, me, grouped, now))
        return intake

    async def _direct(self, peer: str, me: str, accepted: list[Message], now: datetime) -> Intake:
        """Direct messages from ``peer`` to us, checked: the quota, the order after a hold."""
        again, fresh, waiting = await self._after_hold(peer, accepted)
        stranger = await self._trust.is_stranger(peer)
        sizes = [len(m.body.encode("utf-8")) for m in fresh]
        admitted = self._quota.admit(peer, sizes, stranger=stranger, now=now) if fresh else 0
        deferred = {m.id: "over_quota" for m in [*waiting, *fresh[admitted:]]}
        if admitted < len(fresh):
            log.info("%s is over its quota: %d message(s) wait at their end", peer, len(deferred))
            self._held_from[peer] = fresh[admitted].id
        accepted = again + fresh[:admitted]
        if not accepted:
            return Intake(committed=[], deferred=deferred)
        await self._ledger.direct(me, peer)
        stored = await self._messages.add(accepted)
        if stranger and stored and peer not in self._requests_told:
            self._requests_told.add(peer)
            self._events.message_request(peer)
        for message in stored:
            self._events.message_received(message)
        if self._files is not None:
            await self._files.engine.offered(stored)
        return Intake(committed=[m.id for m in accepted], deferred=deferred)

    async def _after_hold(
        self, peer: str, messages: list[Message]
    ) -> tuple[list[Message], list[Message], list[Message]]:
        """Split a batch into messages stored already (sent again: acknowledged again, never
        charged), those to take in, and those that must wait. Once a message of ``peer`` was
        deferred, nothing new of theirs is stored before it, so their order holds: a batch that
        does not bring it first (after messages stored already) is deferred whole."""
        head = self._held_from.get(peer)
        if head is None:
            return [], messages, []
        again: list[Message] = []
        for index, message in enumerate(messages):
            if message.id == head:
                del self._held_from[peer]
                return again, messages[index:], []
            if await self._messages.get(message.id) is None:
                return again, [], messages[index:]  # not the one waited for: all of it waits
            again.append(message)
        return again, [], []

    # The transport calls the application through the InboundHandler port.
    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return await self.execute(peer, messages)

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        """How far ``peer`` is in a group: answered in the background (see ``GroupSync``)."""
        if self._session.user is not None and self._groups is not None:
            self._groups.have_received(peer, have)

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        """Changes of a group's log from ``peer``, as signed: judged and kept by the book."""
        if self._session.user is not None and self._groups is not None:
            await self._groups.changes_received(peer, changes)

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        return await self._file_service().piece_requested(peer, transfer, index)

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        return await self._file_service().hashes_requested(peer, transfer, start)

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        if self._files is not None and self._session.user is not None:
            await self._files.notice_received(peer, notice)

    def _file_service(self) -> FileService:
        if self._files is None or self._session.user is None:
            raise FileRefused("unknown_transfer", "no such file was offered to you")
        return self._files


def _read(incoming: Incoming, me: str, peer: str, now: datetime) -> Message:
    """The domain message ``incoming`` claims to be, in its conversation: a group's (the
    group's id) or the direct one with ``peer``. ``ValidationError``/``DomainError`` if it
    breaks a rule of messages."""
    if incoming.group is None:
        return Message(
            id=incoming.id,
            conversation_id=direct_conversation_id(me, peer),
            sender=incoming.sender,
            recipient=incoming.recipient,
            body=incoming.body,
            sent_at=incoming.sent_at,
            state=MessageState.RECEIVED,
            received_at=now,
            file=incoming.file,
        )
    if incoming.seq is None or incoming.version is None:
        raise InvalidMessage("a group message carries its author's sequence number and version")
    return Message(
        id=incoming.id,
        conversation_id=incoming.group,
        sender=incoming.sender,
        recipient=incoming.recipient,
        group_id=incoming.group,
        stamp=GroupStamp(seq=incoming.seq, version=incoming.version, signature=incoming.signature),
        body=incoming.body,
        sent_at=incoming.sent_at,
        state=MessageState.RECEIVED,
        received_at=now,
        file=incoming.file,
    )


def _merged(first: Intake, second: Intake) -> Intake:
    return Intake(
        committed=[*first.committed, *second.committed],
        deferred={**first.deferred, **second.deferred},
        rejected={**first.rejected, **second.rejected},
    )
