"""Whom to believe: contacts pinned on first use, key changes held until the user accepts them.

Adapters only prove keys (the Noise handshake); this decides what a proven key means:

- a name never seen before is pinned to the key the registry binds it to (trust on first use);
- the pinned key is believed from then on, whatever the registry says later;
- another key for a pinned name blocks that name both ways and tells the user at once, until
  they accept it (``trust``, with its fingerprint) or, for a contact they had verified, compare
  safety numbers again (``verify``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from chinwag.application.errors import (
    FingerprintMismatch,
    IdentityChanged,
    PeerRefused,
    RegistryUnavailable,
    SafetyNumberMismatch,
    UnknownContact,
    UnknownUser,
    UserOffline,
    VerificationRequired,
)
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.contact_repository import ContactRepository
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.events import ChatEvents
from chinwag.domain.contact import Contact
from chinwag.domain.identity import (
    fingerprint,
    matches,
    normalize_fingerprint,
    safety_number,
    same_safety_number,
)
from chinwag.domain.user import normalize_username

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SafetyNumber:
    """What ``verify`` shows: the number for the contact's key (the new one while a change
    waits), that key's fingerprint, and whether the user has verified it."""

    name: str
    number: str
    key: bytes
    verified: bool

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


class TrustPolicy:
    """The contacts' pins, and the checks every connection passes in both directions."""

    def __init__(
        self,
        contacts: ContactRepository,
        directory: Directory,
        events: ChatEvents,
        clock: Clock,
        own_key: bytes,
    ) -> None:
        self._contacts = contacts
        self._directory = directory
        self._events = events
        self._clock = clock
        self.own_key = own_key
        self._me = ""
        self._told: set[tuple[str, bytes]] = set()
        self._told_group: set[tuple[str, bytes]] = set()
        """The (name, key) a group gave that disagree with the pin, said once per run."""
        self._woken: list[Callable[[str], None]] = []
        self._pinned: list[Callable[[str], None]] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, name: str) -> asyncio.Lock:
        """One check or change of ``name``'s contact at a time: each reads, awaits and writes
        the whole contact, and two interleaved would undo each other (a held key let through)."""
        return self._locks.setdefault(normalize_username(name), asyncio.Lock())

    def on_trusted(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` whenever a held name is let through again (the courier)."""
        self._woken.append(listener)

    def on_pinned(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` whenever a name is pinned for the first time (a new contact,
        or a stranger's message request: the watch list watches them). Must be quick; a
        failure is logged, never raised into the check that pinned."""
        self._pinned.append(listener)

    async def outgoing(self, name: str, key: bytes) -> None:
        """Before sending to ``name``, whom the registry binds to ``key``: pin a newcomer, pass a
        known key, raise ``IdentityChanged`` for another one."""
        async with self._lock(name):
            await self._outgoing(name, key)

    async def _outgoing(self, name: str, key: bytes) -> None:
        contact = await self._contacts.get(name)
        if contact is None:
            await self._pin(name, key, accepted=True)
            return
        contact = await self._check(contact, key)
        if not contact.accepted:  # writing to them answers their message request
            await self._contacts.save(contact.model_copy(update={"accepted": True}))

    async def pinned_key(self, name: str) -> bytes | None:
        """The key to expect from ``name`` without asking the registry: the pinned one; None for
        somebody never pinned; ``IdentityChanged`` while a key change waits for the user."""
        contact = await self._contacts.get(name)
        if contact is None:
            return None
        if contact.pending_key is not None:
            raise _held(name)
        return contact.key

    async def group_member(self, name: str, key: bytes) -> bool:
        """Whether ``key``, the key a group's log gives member ``name``, agrees with what this
        user holds for ``name``, so that their group messages may be taken.

        A group's log never changes what is pinned: whoever can make a group and add this user
        to it could otherwise bind any name to their own key for *direct* messages too, or make
        a contact's real messages look like a key change. So a name never pinned is taken on
        the admin's signed word for the group's messages only (nothing is pinned: a first
        direct contact still goes through the registry); the pinned key is taken unless a key
        change of theirs waits for the user; another key is not: their group messages wait,
        and the user is told once per run (``group_member_key``), never offered to accept that
        key (accepting a key answers the registry's word for a name, not a group's).
        """
        contact = await self._contacts.get(name)
        if contact is None:
            return True
        if key == contact.key:
            return contact.pending_key is None
        if (name, key) not in self._told_group:
            self._told_group.add((name, key))
            self._events.error(
                "group_member_key",
                f"a group gives {name} another key ({fingerprint(key)}) than the one you have "
                f"for {name}: {name}'s messages in that group wait. If {name}'s key really "
                "changed, an admin of the group can remove and add them again",
            )
        return False

    async def is_stranger(self, name: str) -> bool:
        """Whether ``name`` has only sent us a message request (the user never answered)."""
        contact = await self._contacts.get(name)
        return contact is None or not contact.accepted

    async def incoming(self, name: str, key: bytes) -> None:
        """A peer proved ``key`` and says it is ``name``: may it deliver to us?

        A contact must hold the pinned key, whatever the registry says; a stranger must hold the
        key the registry binds the name to (so nobody can pose as a name they do not own). A
        contact showing the key the registry now binds their name to is a key change: held, and
        the user told.
        """
        async with self._lock(name):
            await self._incoming(name, key)

    async def _incoming(self, name: str, key: bytes) -> None:
        contact = await self._contacts.get(name)
        if contact is not None and key == contact.key:
            await self._check(contact, key)
            return
        # A key we do not hold for that name: only the registry's binding makes it worth a
        # look. Anybody can claim a name at our port; an impostor must not even cause a warning.
        try:
            location = await self._directory.lookup(name)
        except (RegistryUnavailable, UserOffline, UnknownUser) as exc:
            raise PeerRefused(
                "unverified", f"cannot check {name}'s key with the registry now ({exc})"
            ) from None
        if location.key != key:
            raise PeerRefused("wrong_key", f"{name} is registered to another key")
        if contact is None:
            await self._pin(name, key, accepted=False)
            return
        try:
            await self._check(contact, key)
        except IdentityChanged:
            raise PeerRefused(
                "identity_changed",
                "the recipient has not accepted your new key yet; your messages wait",
            ) from None

    async def _pin(self, name: str, key: bytes, *, accepted: bool) -> None:
        await self._contacts.save(
            Contact(name=name, key=key, first_seen=self._clock.now(), accepted=accepted)
        )
        log.info("pinned %s to %s", name, fingerprint(key))
        for listener in self._pinned:
            try:
                listener(name)
            except Exception:
                log.exception("a listener of new contacts failed")

    async def _check(self, contact: Contact, key: bytes) -> Contact:
        """``contact`` as it now stands if ``key`` is its pinned key; else IdentityChanged."""
        if key == contact.key:
            if contact.pending_key is not None:  # the old key is back: the change is moot
                contact = contact.model_copy(update={"pending_key": None})
                await self._contacts.save(contact)
                self._settled(contact.name)
                self._events.identity_trusted(contact.name, key)  # the warning can go
                self._wake(contact.name)
            return contact
        if key != contact.pending_key:
            await self._contacts.save(contact.model_copy(update={"pending_key": key}))
        if (contact.name, key) not in self._told:  # once per run: after a restart, again
            self._told.add((contact.name, key))
            self._events.identity_changed(contact.name, key, contact.key, contact.verified)
        raise _held(contact.name)

    async def trust(self, name: str, typed_fingerprint: str) -> Contact:
        """Accept the key of ``typed_fingerprint`` for ``name``: the pending one, or the pinned
        one again (nothing to do)."""
        async with self._lock(name):
            return await self._trust(name, typed_fingerprint)

    async def _trust(self, name: str, typed_fingerprint: str) -> Contact:
        wanted = normalize_fingerprint(typed_fingerprint)
        contact = await self._require(name)
        if contact.pending_key is None:
            if matches(contact.key, wanted):
                self._events.identity_trusted(contact.name, contact.key)  # already: say so
                return contact
            raise FingerprintMismatch(f"{wanted} is not {contact.name}'s key")
        if not matches(contact.pending_key, wanted):
            raise FingerprintMismatch(
                f"{wanted} is not {contact.name}'s new key ({fingerprint(contact.pending_key)})"
            )
        if contact.verified:
            raise VerificationRequired(
                f"{contact.name} was verified: compare safety numbers again (verify) to accept "
                "the new key"
            )
        return await self._accept(contact, contact.pending_key, verified=False)

    async def verify(self, name: str, number: str | None = None) -> SafetyNumber:
        """The safety number with ``name`` (for their new key while a change waits); with
        ``number``, mark that key verified (accepting it) if the numbers match."""
        async with self._lock(name):
            return await self._verify(name, number)

    async def _verify(self, name: str, number: str | None = None) -> SafetyNumber:
        contact = await self._require(name)
        key = contact.pending_key or contact.key
        me = self._me
        expected = safety_number(me, self.own_key, contact.name, key)
        if number is None:
            verified = contact.verified and contact.pending_key is None
            return SafetyNumber(contact.name, expected, key, verified)
        if not same_safety_number(number, expected):
            raise SafetyNumberMismatch(
                f"that is not the safety number with {contact.name}; nothing was changed"
            )
        await self._accept(contact, key, verified=True)
        return SafetyNumber(contact.name, expected, key, True)

    async def _accept(self, contact: Contact, key: bytes, *, verified: bool) -> Contact:
        changed = key != contact.key
        accepted = contact.model_copy(
            update={"key": key, "pending_key": None, "verified": verified, "accepted": True}
        )
        await self._contacts.save(accepted)
        self._settled(contact.name)
        if changed:
            log.info("%s's new key %s accepted", contact.name, fingerprint(key))
            self._events.identity_trusted(contact.name, key)
            self._wake(contact.name)
        return accepted

    async def _require(self, name: str) -> Contact:
        contact = await self._contacts.get(normalize_username(name))
        if contact is None:
            raise UnknownContact(f"you have no pinned key for {name}: no message went either way")
        return contact

    def signed_in_as(self, name: str) -> None:
        """The user's own name, which safety numbers are made of."""
        self._me = name

    def _settled(self, name: str) -> None:
        """A change for ``name`` is over: a key seen again later is news again."""
        self._told = {told for told in self._told if told[0] != name}

    def _wake(self, name: str) -> None:
        for listener in self._woken:
            listener(name)


def _held(name: str) -> IdentityChanged:
    return IdentityChanged(f"{name}'s key changed; accept it (trust) before anything moves")
