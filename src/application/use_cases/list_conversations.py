from __future__ import annotations

from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.session import Session


class ListConversations:
    """The people this user has conversations with, the most recent conversation first."""

    def __init__(self, session: Session, conversations: ConversationRepository) -> None:
        self._session = session
        self._conversations = conversations

    async def execute(self) -> list[str]:
        me = self._session.require_user()
        return [
            c.other_than(me) for c in await self._conversations.list_all() if me in c.participants
        ]
