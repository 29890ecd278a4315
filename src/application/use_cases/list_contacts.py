from __future__ import annotations

from uuid import UUID

from chinwag.application.groups.book import GroupBook
from chinwag.application.ports.contact_repository import ContactRepository
from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.session import Session
from chinwag.domain.conversation import Conversation, ConversationKind


class ListContacts:
    """Everybody the user has talked to or added: the people of their conversations, the most
    recent first (those without messages yet after them), then pinned contacts with no
    conversation stored, by name. What the desktop app lists after a restart (with the
    user's groups among them: :meth:`chats`)."""

    def __init__(
        self,
        session: Session,
        conversations: ConversationRepository,
        contacts: ContactRepository,
        groups: GroupBook,
    ) -> None:
        self._session = session
        self._conversations = conversations
        self._contacts = contacts
        self._groups = groups

    async def execute(self) -> list[str]:
        me = self._session.require_user()
        names = [c.other_than(me) for c in await self._conversations.list_all() if _with(me, c)]
        names.extend(await self._contact_names(me))
        return list(dict.fromkeys(names))

    async def chats(self) -> list[str | UUID]:
        """The people of :meth:`execute` and the groups the user is or was in (by id), in the
        order of their conversations' latest message; then contacts without a conversation
        (by name), then groups without a message yet (in the order they were learnt)."""
        me = self._session.require_user()
        mine = [state.id for state, _ in await self._groups.mine()]
        groups = set(mine)
        order: list[str | UUID] = []
        for conversation in await self._conversations.list_all():
            if conversation.kind is ConversationKind.GROUP:
                if conversation.id in groups:
                    order.append(conversation.id)
            elif _with(me, conversation):
                order.append(conversation.other_than(me))
        order.extend(await self._contact_names(me))
        order.extend(mine)
        return list(dict.fromkeys(order))

    async def _contact_names(self, me: str) -> list[str]:
        return [c.name for c in await self._contacts.list_all() if c.name != me]


def _with(me: str, conversation: Conversation) -> bool:
    """Whether ``conversation`` is a direct one of ``me``'s."""
    return conversation.kind is ConversationKind.DIRECT and me in conversation.participants
