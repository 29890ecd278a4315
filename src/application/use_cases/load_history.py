from __future__ import annotations

from uuid import UUID

from chinwag.application.groups.book import GroupBook
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import UnknownGroup
from chinwag.domain.message import Message

MAX_PAGE = 500


class LoadHistory:
    """A page of the conversation with another user, or of a group's, from local history
    only.

    ``groups`` is the book of the groups known here; a client made without one (no group
    chat) is in no group, so :meth:`group` refuses every id."""

    def __init__(
        self, session: Session, messages: MessageRepository, groups: GroupBook | None = None
    ) -> None:
        self._session = session
        self._messages = messages
        self._groups = groups

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
        the newest), oldest first; as :meth:`execute` pages a direct conversation.

        ``UnknownGroup`` unless ``group`` is a group this user is in or was in (left, or
        removed: its history stays readable). Any other id is refused, a direct
        conversation's included: its id is a conversation's, not a group's, and paging it
        here would show direct messages as a group's."""
        self._session.require_user()
        if self._groups is None:
            raise UnknownGroup(f"you are not in a group with id {group}")
        await self._groups.get(group)  # UnknownGroup unless this user is, or was, in it
        limit = max(1, min(limit, MAX_PAGE))
        page = await self._messages.page(group, limit, before)
        page.reverse()
        return page
