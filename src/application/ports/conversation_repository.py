from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from chinwag.domain.conversation import Conversation


@dataclass(frozen=True, slots=True)
class Unread:
    """The received messages of a conversation the user has not seen: how many, and the first
    of them (where the "new messages" divider goes)."""

    count: int
    first: UUID


class ConversationRepository(Protocol):
    """The conversations this user has taken part in, and how far the user has read each."""

    async def save(self, conversations: Sequence[Conversation]) -> None:
        """Remember these conversations (saving a known one again changes nothing)."""
        ...

    async def get(self, conversation_id: UUID) -> Conversation | None: ...

    async def list_all(self) -> list[Conversation]:
        """Every conversation, the one with the latest message first."""
        ...

    async def mark_read(self, conversation_id: UUID, upto: UUID) -> None:
        """The user has seen the conversation's messages up to ``upto`` (one of its messages)
        and every one stored before it. The read marker only moves forward: an older ``upto``,
        or a message of another conversation, or an unknown one, changes nothing."""
        ...

    async def unread(self, stored_upto: int | None = None) -> dict[UUID, Unread]:
        """The conversations with received messages stored after their read marker; with
        ``stored_upto`` (a :meth:`history_end`), only those stored up to that point count."""
        ...

    async def history_end(self) -> int:
        """Where the stored history ends now: an opaque position that only grows. Messages
        stored later are past it, so ``unread(stored_upto=...)`` leaves them out."""
        ...
