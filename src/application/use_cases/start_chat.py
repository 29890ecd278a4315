"""Start a conversation with somebody by name: anybody the registry knows, online or not."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from chinwag.application.conversations import ConversationLedger
from chinwag.application.errors import (
    ChatError,
    IdentityChanged,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import Directory
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.user import normalize_username


@dataclass(frozen=True, slots=True)
class StartedChat:
    """The conversation that was opened: with ``name`` (as the registry spells it)."""

    name: str
    online: bool


class StartChat:
    """Add somebody as a contact and store the conversation with them, even with no message.

    Adding is the user's word that they want to talk to that name, so:

    - somebody online is pinned at once to the key the registry binds their name to, through the
      trust policy's outgoing path (as sending to them would), and marked as answered, so their
      replies are not a message request; a key that differs from the one pinned earlier is a
      key change, told as ever, and the conversation opens with its warning;
    - somebody offline has no key to pin yet (the registry tells only that the name is known):
      the stored conversation is what keeps them in the contact list, and their key is pinned
      the first time a message goes either way, as for anybody;
    - a name the registry never heard of is refused (``UnknownUser``), and so is the user's own.

    Conversations and pinned contacts together make the list the app shows after a restart
    (:class:`~chinwag.application.use_cases.list_contacts.ListContacts`).
    """

    def __init__(
        self,
        session: Session,
        directory: Directory,
        ledger: ConversationLedger,
        trust: TrustPolicy,
    ) -> None:
        self._session = session
        self._directory = directory
        self._ledger = ledger
        self._trust = trust

    async def execute(self, name: str) -> StartedChat:
        """Raises ``InvalidUsername`` for a name that cannot be one, ``UnknownUser`` for a name
        nobody ever signed in with, ``RegistryUnavailable`` when the registry cannot say (and the
        person is not already a contact)."""
        me = self._session.require_user()
        peer = normalize_username(name)
        if peer == me:
            raise ChatError("that is you: start a chat with somebody else")
        online = True
        try:
            location = await self._directory.lookup(peer)
        except UserOffline:
            online = False
        except UnknownUser:
            raise UnknownUser(f"nobody called {peer} is registered; check the spelling") from None
        except RegistryUnavailable:
            if not await self._ledger.known(me, peer):
                raise
            online = False
        else:
            # A key change is told as an event; the conversation opens under its warning.
            with contextlib.suppress(IdentityChanged):
                await self._trust.outgoing(peer, location.key)
        await self._ledger.direct(me, peer)
        return StartedChat(peer, online)
