from __future__ import annotations

from chinwag.application.ports.contact_repository import ContactRepository
from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.session import Session


class ListContacts:
    """Everybody the user has talked to or added: the people of their conversations, the most
    recent first (those without messages yet after them), then pinned contacts with no
    conversation stored, by name. What the desktop app lists after a restart."""

    def __init__(
        self,
        session: Session,
        conversations: ConversationRepository,
        contacts: ContactRepository,
    ) -> None:
        self._session = session
        self._conversations = conversations
        self._contacts = contacts

    async def execute(self) -> list[str]:
        me = self._session.require_user()
        names = [
            c.other_than(me) for c in await self._conversations.list_all() if me in c.participants
        ]
        names.extend(c.name for c in await self._contacts.list_all() if c.name != me)
        return list(dict.fromkeys(names))
