"""Where the user's own messages stand with each recipient: a group message has one delivery per
member, each in its own state ("delivered to 3 of 4, carol offline")."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from chinwag.application.ports.message_repository import Delivery, MessageRepository
from chinwag.application.session import Session
from chinwag.application.use_cases.load_history import MAX_PAGE
from chinwag.domain.errors import DomainError


class TooManyMessages(DomainError):
    """More messages asked about at once than a page of history holds."""


class MessageDeliveries:
    """The deliveries of the user's messages on a page of history, read in one request."""

    def __init__(self, session: Session, messages: MessageRepository) -> None:
        self._session = session
        self._messages = messages

    async def execute(self, messages: Sequence[UUID]) -> dict[UUID, list[Delivery]]:
        """For each of ``messages`` (at most a page: :data:`MAX_PAGE`), its deliveries by
        recipient; an empty list for a message the user received, or one not stored.

        Only the user's own outgoing messages have deliveries, so a page's other messages
        cost nothing more than being asked about. The repository is read once per message:
        the bound keeps a page's reads bounded (``TooManyMessages`` past it)."""
        self._session.require_user()
        wanted = list(dict.fromkeys(messages))
        if len(wanted) > MAX_PAGE:
            raise TooManyMessages(
                f"deliveries are read a page at a time: at most {MAX_PAGE} messages, "
                f"not {len(wanted)}"
            )
        return {message: await self._messages.deliveries(message) for message in wanted}
