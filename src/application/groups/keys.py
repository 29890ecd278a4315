"""The identity keys of members: the one a new member is added with, and the check that the
key a group's log gives a member is the one this user believes for that name.

A member of a group is a name and a key, signed into the log by the admin who added it, and
every member checks that member's messages with that key. So the key must be the one this
user would check a direct message with: the key pinned for the name, or (for somebody never
met) the key the registry binds the name to, pinned from then on as any first contact is. The
other way round, a log giving a member another key than the pinned one is a key change, and
holds that member's messages until the user accepts it (:class:`MemberPins`).
"""

from __future__ import annotations

from typing import Protocol

from chinwag.application.errors import RegistryUnavailable, UnknownUser, UserOffline
from chinwag.application.ports.directory import Directory
from chinwag.application.trust import TrustPolicy


class MemberKeys:
    """Finds the identity key to add a member with."""

    def __init__(self, directory: Directory, trust: TrustPolicy) -> None:
        self._directory = directory
        self._trust = trust

    async def key_for(self, name: str) -> bytes:
        """The key of ``name`` (normalised): pinned, else the registry's (then pinned).

        ``IdentityChanged`` while a key change of theirs waits for the user; ``UserOffline``
        when no key is pinned and they are not online to ask the registry; ``UnknownUser`` when
        nobody of that name ever signed in; ``RegistryUnavailable`` when the registry is out of
        reach and no key is pinned.
        """
        pinned = await self._trust.pinned_key(name)
        if pinned is not None:
            return pinned
        try:
            location = await self._directory.lookup(name)
        except UserOffline:
            raise UserOffline(
                f"cannot add {name}: they have never been online while you were, so you hold "
                "no key of theirs; try again while they are online"
            ) from None
        except UnknownUser:
            raise UnknownUser(
                f"cannot add {name}: nobody called {name} has ever signed in"
            ) from None
        except RegistryUnavailable as exc:
            raise RegistryUnavailable(
                f"cannot add {name}: you hold no key of theirs and the registry is out of reach "
                f"({exc})"
            ) from None
        await self._trust.outgoing(name, location.key)  # pinned, as any first contact
        return location.key


class MemberPins(Protocol):
    """What the receive path asks before it takes a member's message: whether the key the
    group's log gives the author is the one believed for that name (pinned on first sight; a
    key change otherwise, held until the user accepts it). ``TrustPolicy`` answers it."""

    async def group_member(self, name: str, key: bytes) -> bool: ...
