"""Conversations and how a direct conversation gets its id."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, model_validator

from chinwag.domain.user import Username, normalize_username

_DIRECT_NAMESPACE = UUID("5c2b8f0e-6a43-4d0e-9a5e-3c1f0b7d8a21")


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


@lru_cache(maxsize=4096)
def direct_conversation_id(a: str, b: str) -> UUID:
    """The id of the direct conversation between ``a`` and ``b``.

    Both sides derive the same id on their own, whatever the order and spelling of the names: the
    names are normalised, sorted and joined by a newline (which no username can contain).
    """
    first, second = sorted((normalize_username(a), normalize_username(b)))
    return uuid5(_DIRECT_NAMESPACE, f"{first}\n{second}")


class Conversation(BaseModel):
    """A conversation: direct (two participants, the id derived from them) or a group's (its id
    is the group's; who takes part is the group's membership log, so no participants here)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    kind: ConversationKind
    participants: tuple[Username, ...]

    @model_validator(mode="after")
    def _rules(self) -> Conversation:
        if self.kind is ConversationKind.DIRECT:
            if len(self.participants) != 2 or self.participants[0] == self.participants[1]:
                raise ValueError("a direct conversation has two different participants")
            if self.id != direct_conversation_id(*self.participants):
                raise ValueError("a direct conversation's id is derived from its participants")
        elif self.participants:
            raise ValueError("a group conversation's members are its group's, not listed here")
        return self

    @classmethod
    def direct(cls, a: str, b: str) -> Conversation:
        participants = tuple(sorted((normalize_username(a), normalize_username(b))))
        return cls(
            id=direct_conversation_id(a, b),
            kind=ConversationKind.DIRECT,
            participants=participants,
        )

    @classmethod
    def of_group(cls, group: UUID) -> Conversation:
        """The conversation of group ``group``: it has the group's id."""
        return cls(id=group, kind=ConversationKind.GROUP, participants=())

    def other_than(self, user: str) -> str:
        """The participant who is not ``user`` (for a direct conversation)."""
        return next((p for p in self.participants if p != user), user)
