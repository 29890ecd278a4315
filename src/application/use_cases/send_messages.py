"""Send many messages at once: one commit for all of them, each checked on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from chinwag.application.conversations import ConversationLedger, Turn
from chinwag.application.delivery import Courier
from chinwag.application.errors import OutboxFull, RegistryUnavailable, UserOffline
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.errors import DomainError, InvalidMessage
from chinwag.domain.message import Message, MessageState, validate_body
from chinwag.domain.transfer import FileOffer
from chinwag.domain.user import normalize_username


@dataclass(frozen=True, slots=True)
class Draft:
    """A message to send: to whom, and what."""

    to: str
    body: str


Outcome = Message | DomainError
"""What became of one draft: the stored message, or why it was refused."""


class SendMessages:
    """Commit new messages locally, then hand them to the courier; never the other way round.

    Drafts are checked one by one (a bad one is refused alone, the others go); those that pass
    share one commit. Each conversation's messages are committed and handed over in the order
    of their drafts, after those of any send begun earlier (:class:`OutgoingOrder`), so the
    order of sends to one person is a rule, not a result of how long each send's checks took.
    """

    def __init__(
        self,
        session: Session,
        directory: Directory,
        messages: MessageRepository,
        ledger: ConversationLedger,
        courier: Courier,
        events: ChatEvents,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._session = session
        self._directory = directory
        self._messages = messages
        self._ledger = ledger
        self._courier = courier
        self._events = events
        self._clock = clock
        self._ids = ids

    async def one(
        self,
        to: str,
        body: str,
        *,
        file: FileOffer | None = None,
        message_id: UUID | None = None,
    ) -> Message:
        """Send one message: :meth:`execute` for a single draft, its refusal raised, without the
        bookkeeping of many (the desktop app and scripts that wait for each send use this).
        ``file``: it offers that file, under ``message_id`` (the transfer's id, picked by the
        caller; a new one if None)."""
        me = self._session.require_user()
        recipient = normalize_username(to)
        validate_body(body)
        if recipient == me:
            raise InvalidMessage("you cannot send a message to yourself")
        self._courier.check_room()
        turn = self._ledger.take_turn(me, recipient)
        try:
            state, reason = await self._state_for(me, recipient)
            conversation = await self._ledger.direct(me, recipient)
        except BaseException:
            turn.drop()
            raise
        message = Message(
            id=message_id or self._ids.new_id(),
            conversation_id=conversation.id,
            sender=me,
            recipient=recipient,
            body=body,
            sent_at=self._clock.now(),
            state=state,
            reason=reason,
            file=file,
        )
        await turn.store([message], self._store)
        return message

    async def execute(self, drafts: Sequence[Draft]) -> list[Outcome]:
        """Send every draft; one outcome per draft, in order: the stored message, ``pending``
        (the recipient is online) or ``queued`` (offline: it goes out when they are back), or
        the refusal (``InvalidUsername``, ``InvalidMessage``, ``UnknownUser``, ``OutboxFull``,
        ``RegistryUnavailable``, or the storage's error if the commit failed).

        Raises ``NotSignedIn`` (for all of them) when nobody is signed in. Delivery states
        follow as events.
        """
        me = self._session.require_user()
        outcomes: list[Outcome | None] = [None] * len(drafts)
        wanted: dict[str, list[int]] = {}  # recipient -> indexes of its drafts, in order
        room = self._courier.room()
        for index, draft in enumerate(drafts):
            try:
                recipient = normalize_username(draft.to)
                validate_body(draft.body)
                if recipient == me:
                    raise InvalidMessage("you cannot send a message to yourself")
                if room <= 0:
                    raise OutboxFull(
                        f"{self._courier.backlog()} messages are already waiting to be "
                        "delivered; wait until some of their recipients come online"
                    )
            except DomainError as exc:
                outcomes[index] = exc
                continue
            room -= 1
            wanted.setdefault(recipient, []).append(index)
        # Every conversation's turn is taken now, before anything is awaited.
        turns = {recipient: self._ledger.take_turn(me, recipient) for recipient in wanted}
        sends = [
            self._send(me, recipient, turns[recipient], drafts, indexes, outcomes)
            for recipient, indexes in wanted.items()
        ]
        try:
            if len(sends) == 1:  # the common case, without a task per send
                await sends[0]
            else:
                await asyncio.gather(*sends)
        finally:
            for turn in turns.values():  # if cancelled before one started: later sends go on
                turn.drop()
        done = [outcome for outcome in outcomes if outcome is not None]
        assert len(done) == len(drafts)
        return done

    async def _send(
        self,
        me: str,
        recipient: str,
        turn: Turn,
        drafts: Sequence[Draft],
        indexes: list[int],
        outcomes: list[Outcome | None],
    ) -> None:
        try:
            state, reason = await self._state_for(me, recipient)
            conversation = await self._ledger.direct(me, recipient)
        except DomainError as exc:
            turn.drop()
            for index in indexes:
                outcomes[index] = exc
            return
        except BaseException:
            turn.drop()
            raise
        now = self._clock.now()
        messages = [
            Message(
                id=self._ids.new_id(),
                conversation_id=conversation.id,
                sender=me,
                recipient=recipient,
                body=drafts[index].body,
                sent_at=now,
                state=state,
                reason=reason,
            )
            for index in indexes
        ]
        try:
            await turn.store(messages, self._store)
        except DomainError as exc:
            for index in indexes:
                outcomes[index] = exc
            return
        for index, message in zip(indexes, messages, strict=True):
            outcomes[index] = message

    async def _store(self, messages: list[Message]) -> None:
        """Commit, then tell, then hand over: in this order, for one conversation at a time."""
        await self._messages.add(messages)
        for message in messages:
            self._events.message_state_changed(message)
        for message in messages:
            self._courier.enqueue(message)

    async def _state_for(self, me: str, recipient: str) -> tuple[MessageState, str | None]:
        """``pending`` for somebody online; ``queued`` for somebody known to be offline, with
        the reason the courier will find too (the registry's words), so that its first try
        does not report the same state again as news."""
        if recipient in self._directory.online():
            return MessageState.PENDING, None
        try:
            await self._directory.lookup(recipient)
        except UserOffline as exc:
            return MessageState.QUEUED, str(exc)
        except RegistryUnavailable as exc:
            # No registry to ask: somebody we have talked to exists; a new name may not.
            if await self._ledger.known(me, recipient):
                return MessageState.QUEUED, str(exc)
            raise
        return MessageState.PENDING, None  # online after all (presence had not caught up)
