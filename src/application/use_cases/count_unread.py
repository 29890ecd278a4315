from __future__ import annotations

from uuid import UUID

from chinwag.application.groups.book import GroupBook
from chinwag.application.ports.conversation_repository import ConversationRepository, Unread
from chinwag.application.session import Session
from chinwag.domain.conversation import ConversationKind


class CountUnread:
    """The unread received messages of each conversation, by the other person's name or by
    group: how many, and the first one (where the "new messages" divider goes). Read at
    sign-in.

    The desktop app counts what arrives while it runs from the events; so that a message is
    not counted twice (once stored, once as it arrives while the counts load), it notes
    :meth:`history_end` before anything can arrive and counts only what was stored up to it."""

    def __init__(
        self, session: Session, conversations: ConversationRepository, groups: GroupBook
    ) -> None:
        self._session = session
        self._conversations = conversations
        self._groups = groups

    async def history_end(self) -> int:
        """Where the stored history ends now (needs no sign-in: it is read before it)."""
        return await self._conversations.history_end()

    async def execute(self, stored_upto: int | None = None) -> dict[str, Unread]:
        """Every unread message of the user's direct conversations, or with ``stored_upto``
        (a :meth:`history_end`) those stored up to that point."""
        me = self._session.require_user()
        unread = await self._conversations.unread(stored_upto)
        if not unread:
            return {}
        return {
            c.other_than(me): unread[c.id]
            for c in await self._conversations.list_all()
            if c.id in unread and c.kind is ConversationKind.DIRECT and me in c.participants
        }

    async def groups(self, stored_upto: int | None = None) -> dict[UUID, Unread]:
        """As :meth:`execute`, for the groups the user is in or was in, by group id."""
        self._session.require_user()
        unread = await self._conversations.unread(stored_upto)
        if not unread:
            return {}
        mine = {state.id for state, _ in await self._groups.mine()}
        return {group: counted for group, counted in unread.items() if group in mine}
