"""Makes sure a conversation is stored once before its first message."""

from __future__ import annotations

import asyncio

from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.domain.conversation import Conversation, direct_conversation_id


class ConversationLedger:
    """Saves each conversation once per run, before any of its messages is stored.

    A crash between the two writes leaves at worst an empty conversation, never an orphaned
    message. Concurrent callers for the same conversation share one write; once it is done,
    asking again costs a dictionary lookup (this is on the path of every message).
    """

    def __init__(self, conversations: ConversationRepository) -> None:
        self._conversations = conversations
        self._saved: dict[tuple[str, str], tuple[Conversation, asyncio.Future[None]]] = {}

    async def known(self, me: str, peer: str) -> bool:
        """Whether ``me`` has a conversation with ``peer`` (stored, or being stored)."""
        if (me, peer) in self._saved:
            return True
        return await self._conversations.get(direct_conversation_id(me, peer)) is not None

    async def direct(self, me: str, peer: str) -> Conversation:
        """The direct conversation of ``me`` and ``peer``, stored before this returns."""
        entry = self._saved.get((me, peer))
        if entry is None:
            conversation = Conversation.direct(me, peer)
            entry = (conversation, asyncio.ensure_future(self._conversations.save([conversation])))
            self._saved[(me, peer)] = entry
        conversation, saving = entry
        if saving.done() and saving.exception() is None:
            return conversation
        try:
            await asyncio.shield(saving)
        except Exception:
            # Let the next caller try again rather than remember a failure forever.
            if self._saved.get((me, peer)) is entry:
                del self._saved[(me, peer)]
            raise
        return conversation
