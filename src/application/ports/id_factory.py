from typing import Protocol
from uuid import UUID


class IdFactory(Protocol):
    """Makes new message ids (random UUIDs in production, a sequence in tests)."""

    def new_id(self) -> UUID: ...
