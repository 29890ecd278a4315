from __future__ import annotations

from chinwag.application.ports.conversation_repository import ConversationRepository, Unread
from chinwag.application.session import Session


class CountUnread:
    """The unread received messages of each conversation, by the other person's name: how many,
    and the first one (where the "new messages" divider goes). Read at sign-in.

    The desktop app counts what arrives while it runs from the events; so that a message is
    not counted twice (once stored, once as it arrives while the counts load), it notes
    :meth:`history_end` before anything can arrive and counts only what was stored up to it."""

    def __init__(self, session: Session, conversations: ConversationRepository) -> None:
        self._session = session
        self._conversations = conversations

    async def history_end(self) -> int:
        """Where the stored history ends now (needs no sign-in: it is read before it)."""
        return await self._conversations.history_end()

    async def execute(self, stored_upto: int | None = None) -> dict[str, Unread]:
        """Every unread message, or with ``stored_upto`` (a :meth:`history_end`) those stored
        up to that point."""
        me = self._session.require_user()
        unread = await self._conversations.unread(stored_upto)
        if not unread:
            return {}
        return {
            c.other_than(me): unread[c.id]
            for c in await self._conversations.list_all()
            if c.id in unread and me in c.participants
        }
