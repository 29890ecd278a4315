"""The in-memory twin of the contact repository."""

from __future__ import annotations

from chinwag.domain.contact import Contact
from chinwag.domain.message import utc


class InMemoryContactRepository:
    """The :class:`~chinwag.application.ports.ContactRepository` port, kept in a dict.

    Like SQLite, ``first_seen`` is returned in UTC, names are compared exactly (callers pass the
    normalised name a :class:`Contact` holds) and :meth:`list_all` sorts by code point.
    """

    def __init__(self) -> None:
        self._contacts: dict[str, Contact] = {}

    async def get(self, name: str) -> Contact | None:
        return self._contacts.get(name)

    async def save(self, contact: Contact) -> None:
        self._contacts[contact.name] = contact.model_copy(
            update={"first_seen": utc(contact.first_seen)}
        )

    async def list_all(self) -> list[Contact]:
        return [self._contacts[name] for name in sorted(self._contacts)]
