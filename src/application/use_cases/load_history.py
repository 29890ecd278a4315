from __future__ import annotations

from uuid import UUID

from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message

MAX_PAGE = 500


class LoadHistory:
    """A page of the conversation with another user, or of a group's, from local history
    only."""

    def __init__(self, session: Session, messages: MessageRepository) -> None:
        self._session = session
        self._messages = messages

    async def execute(
        self, with_user: str, limit: int = 50, before: UUID | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages older than ``before`` (or the newest), oldest first.

        For the next page back, pass the first message's id as ``before``.
        """
        me = self._session.require_user()
        limit = max(1, min(limit, MAX_PAGE))
        page = await self._messages.page(direct_conversation_id(me, with_user), limit, before)
        page.reverse()
        return page

    async def group(
        self, group: UUID, limit: int = 50, before: UUID | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages of group ``group``'s conversation older than ``before`` (or
        the newest), oldest first; as :meth:`execute` pages a direct conversation."""
        self._session.require_user()
        limit = max(1, min(limit, MAX_PAGE))
        page = await self._messages.page(group, limit, before)
        page.reverse()
        return page
