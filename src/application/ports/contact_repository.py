from typing import Protocol

from chinwag.domain.contact import Contact


class ContactRepository(Protocol):
    """The user's contacts and the keys pinned for them, in the history database."""

    async def get(self, name: str) -> Contact | None:
        """The contact called ``name`` (normalised), or None if never pinned."""
        ...

    async def save(self, contact: Contact) -> None:
        """Insert or replace the contact of that name; committed before this returns."""
        ...

    async def list_all(self) -> list[Contact]:
        """Every contact, by name."""
        ...
