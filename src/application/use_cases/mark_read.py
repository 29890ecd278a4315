from __future__ import annotations

from uuid import UUID

from chinwag.application.groups.book import GroupBook
from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.session import Session
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.user import normalize_username


class MarkRead:
    """The user saw a conversation up to the message ``upto``: what came before it is no
    longer unread, now or after a restart. Only moves forward."""

    def __init__(
        self, session: Session, conversations: ConversationRepository, groups: GroupBook
    ) -> None:
        self._session = session
        self._conversations = conversations
        self._groups = groups

    async def execute(self, with_user: str, upto: UUID) -> None:
        """The conversation with ``with_user``."""
        me = self._session.require_user()
        conversation_id = direct_conversation_id(me, normalize_username(with_user))
        await self._conversations.mark_read(conversation_id, upto)

    async def group(self, group: UUID, upto: UUID) -> None:
        """Group ``group``'s conversation; ``UnknownGroup`` unless the user is, or was, in it
        (so no other conversation's marker can be moved by naming its id as a group's)."""
        self._session.require_user()
        await self._groups.get(group)
        await self._conversations.mark_read(group, upto)
