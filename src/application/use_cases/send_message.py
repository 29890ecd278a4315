from __future__ import annotations

from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.errors import RegistryUnavailable, UserOffline
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.errors import InvalidMessage
from chinwag.domain.message import Message, MessageState, validate_body
from chinwag.domain.user import normalize_username


class SendMessage:
    """Commit a new message locally, then hand it to the courier; never the other way round."""

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

    async def execute(self, to: str, body: str) -> Message:
        """Send ``body`` to ``to``; return the stored message, ``pending`` (the recipient is
        online) or ``queued`` (offline: it goes out when they are back).

        Raises ``InvalidUsername`` or ``InvalidMessage`` for bad input, ``UnknownUser`` when no
        one of that name ever signed in, ``OutboxFull`` when too many messages already wait,
        ``RegistryUnavailable`` when the registry cannot say who ``to`` is. Delivery states
        follow as events.
        """
        me = self._session.require_user()
        recipient = normalize_username(to)
        validate_body(body)
        if recipient == me:
            raise InvalidMessage("you cannot send a message to yourself")
        self._courier.check_room()
        state = await self._state_for(me, recipient)
        conversation = await self._ledger.direct(me, recipient)
        message = Message(
            id=self._ids.new_id(),
            conversation_id=conversation.id,
            sender=me,
            recipient=recipient,
            body=body,
            sent_at=self._clock.now(),
            state=state,
        )
        await self._messages.add([message])
        self._events.message_state_changed(message)
        self._courier.enqueue(message)
        return message

    async def _state_for(self, me: str, recipient: str) -> MessageState:
        """``pending`` for somebody online, ``queued`` for somebody known to be offline."""
        if recipient in self._directory.online():
            return MessageState.PENDING
        try:
            await self._directory.lookup(recipient)
        except UserOffline:
            return MessageState.QUEUED
        except RegistryUnavailable:
            # No registry to ask: somebody we have talked to exists; a new name may not.
            if await self._ledger.known(me, recipient):
                return MessageState.QUEUED
            raise
        return MessageState.PENDING  # online after all (presence had not caught up)
