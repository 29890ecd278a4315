"""Contacts: the people this user has talked to, pinned to the identity key first seen."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chinwag.domain.identity import KEY_SIZE
from chinwag.domain.user import Username


class Contact(BaseModel):
    """A person pinned on first use (TOFU).

    ``key`` is the identity key trusted for ``name``. ``pending_key`` is another key seen for
    them since, not accepted yet: while it is set, nothing goes to or comes from that name.
    ``verified`` says the user compared safety numbers for ``key``. ``accepted`` says the user
    has answered them (sent a message, trusted or verified them): until then their messages are
    a *message request*, and they get a stranger's smaller quota.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Username
    key: bytes = Field(min_length=KEY_SIZE, max_length=KEY_SIZE)
    first_seen: AwareDatetime
    verified: bool = False
    pending_key: bytes | None = Field(default=None, min_length=KEY_SIZE, max_length=KEY_SIZE)
    accepted: bool = False

    @property
    def blocked(self) -> bool:
        """Whether a key change waits for the user's word."""
        return self.pending_key is not None
