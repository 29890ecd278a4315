from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from chinwag.domain.conversation import Conversation


class ConversationRepository(Protocol):
    """The conversations this user has taken part in."""

    async def save(self, conversations: Sequence[Conversation]) -> None:
        """Remember these conversations (saving a known one again changes nothing)."""
        ...

    async def get(self, conversation_id: UUID) -> Conversation | None: ...

    async def list_all(self) -> list[Conversation]:
        """Every conversation, the one with the latest message first."""
        ...
