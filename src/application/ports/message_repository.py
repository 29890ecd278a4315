from collections.abc import Sequence
from typing import NamedTuple, Protocol
from uuid import UUID

from chinwag.domain.message import Message, MessageState


class StateChange(NamedTuple):
    """A new delivery state for one stored message."""

    id: UUID
    state: MessageState
    reason: str | None = None


class MessageRepository(Protocol):
    """Durable message history of one user.

    Writes return only after the data is committed: callers rely on that to acknowledge.
    Implementations batch concurrent writes into one transaction (group commit).
    """

    async def add(self, messages: Sequence[Message]) -> list[Message]:
        """Store the messages whose ids are new; return those, in order (duplicates are skipped)."""
        ...

    async def update_states(self, changes: Sequence[StateChange]) -> None:
        """Record new delivery states for stored messages."""
        ...

    async def get(self, message_id: UUID) -> Message | None: ...

    async def unacknowledged(self, sender: str) -> list[Message]:
        """``sender``'s messages not yet acknowledged (pending, queued or sent), oldest first:
        the outbox, to resume after a restart."""
        ...

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages of a conversation, newest first, older than ``before`` if given.

        Pages follow the order messages were stored in on this device (keyset paging, no OFFSET).
        """
        ...

    async def search(self, text: str, limit: int) -> list[Message]:
        """Messages whose bodies contain every word of ``text``, newest first.

        ``text`` is the user's words, never a query language: no input can make it fail.
        """
        ...
