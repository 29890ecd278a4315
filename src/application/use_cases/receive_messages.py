from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from chinwag.application.conversations import ConversationLedger
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.message import Message, MessageState

log = logging.getLogger(__name__)


class ReceiveMessages:
    """Store what a peer sent, then say which ids may be acknowledged: only committed ones.

    This is the transport's ``InboundHandler``. A message seen before (same id) is not stored
    or shown again, but is acknowledged again: its first acknowledgement may have been lost.
    """

    def __init__(
        self,
        session: Session,
        messages: MessageRepository,
        ledger: ConversationLedger,
        events: ChatEvents,
    ) -> None:
        self._session = session
        self._messages = messages
        self._ledger = ledger
        self._events = events

    async def execute(self, peer: str, messages: Sequence[Message]) -> list[UUID]:
        me = self._session.require_user()
        conversation = await self._ledger.direct(me, peer)
        accepted: list[Message] = []
        for message in messages:
            if (
                message.sender != peer
                or message.recipient != me
                or message.conversation_id != conversation.id
            ):
                log.warning("refused message %s from %s: not from them to us", message.id, peer)
                continue
            accepted.append(
                message
                if message.state is MessageState.RECEIVED
                else message.model_copy(update={"state": MessageState.RECEIVED, "reason": None})
            )
        if not accepted:
            return []
        stored = await self._messages.add(accepted)
        for message in stored:
            self._events.message_received(message)
        return [m.id for m in accepted]

    # The transport calls the application through the InboundHandler port.
    async def messages_received(self, peer: str, messages: Sequence[Message]) -> Sequence[UUID]:
        return await self.execute(peer, messages)
