from __future__ import annotations

from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.message import Message

MAX_RESULTS = 200


class SearchHistory:
    """Messages of every conversation containing all the words the user typed, newest first."""

    def __init__(self, session: Session, messages: MessageRepository) -> None:
        self._session = session
        self._messages = messages

    async def execute(self, text: str, limit: int = 50) -> list[Message]:
        self._session.require_user()
        if not text.strip():
            return []
        return await self._messages.search(text, max(1, min(limit, MAX_RESULTS)))
