from __future__ import annotations

from uuid import UUID

from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.session import Session
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.user import normalize_username


class MarkRead:
    """The user saw the conversation with ``with_user`` up to the message ``upto``: what came
    before it is no longer unread, now or after a restart. Only moves forward."""

    def __init__(self, session: Session, conversations: ConversationRepository) -> None:
        self._session = session
        self._conversations = conversations

    async def execute(self, with_user: str, upto: UUID) -> None:
        me = self._session.require_user()
        conversation_id = direct_conversation_id(me, normalize_username(with_user))
        await self._conversations.mark_read(conversation_id, upto)
