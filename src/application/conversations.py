"""Makes sure a conversation is stored once before its first message."""

from __future__ import annotations

import asyncio
from uuid import UUID

from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.domain.conversation import Conversation


class ConversationLedger:
    """Saves each conversation once per run, before any of its messages is stored.

    A crash between the two writes leaves at worst an empty conversation, never an orphaned
    message. Concurrent callers for the same conversation share one write.
    """

    def __init__(self, conversations: ConversationRepository) -> None:
        self._conversations = conversations
        self._saved: dict[UUID, asyncio.Future[None]] = {}

    async def ensure(self, conversation: Conversation) -> None:
        saving = self._saved.get(conversation.id)
        if saving is None:
            saving = asyncio.ensure_future(self._conversations.save([conversation]))
            self._saved[conversation.id] = saving
        try:
            await asyncio.shield(saving)
        except Exception:
            # Let the next caller try again rather than remember a failure forever.
            if self._saved.get(conversation.id) is saving:
                del self._saved[conversation.id]
            raise
