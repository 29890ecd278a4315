"""Whom group sync may send to, and where: somebody a group's log vouches for, or who proved
its key to us already.

Sync never pins a key and never makes anybody a contact (that is the user's doing, or the
book's when it takes a member's key from a log): a frame sent by sync answers no message
request. So a peer is reached only

- when a group's log lists it (now, or once for a former member), holding the key the log
  gives it: the registry must bind the name to that key (the session then proves it), and a
  key pinned for the name must be that key too (another one is a key change: the user settles
  it, sync leaves the peer alone meanwhile);
- or, to ask it for what we lack (our have without authors: the group's id, version and head,
  never who posted what), a peer that is not a member as we know it (the group is not known
  here, or the peer says it is further than our log: it may have been added by a change we
  lack) when it is pinned already (it reached us, so it proved its key) and holds that pin.
  Nobody else: a name never seen is not even looked up.
"""

from __future__ import annotations

import logging
from typing import Protocol

from chinwag.application.errors import (
    IdentityChanged,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.directory import Directory, PeerLocation
from chinwag.application.trust import TrustPolicy

log = logging.getLogger(__name__)


class LastLocations(Protocol):
    """Where a peer was last found, with its pinned key (the courier remembers it): what a
    sync send uses while the registry is out of reach."""

    async def last_location(self, name: str) -> PeerLocation | None: ...


def log_key(view: GroupView, peer: str) -> bytes | None:
    """The key ``view``'s log gives ``peer``: its key now if it is a member, else the one it
    had when it last was (a former member); None if it never was one."""
    if peer not in view.ever:
        return None
    for state in reversed(view.states):
        key = state.key_of(peer)
        if key is not None:
            return key
    return None


class PeerReach:
    """Finds a peer for a sync send, checked as the module's text says; never changes trust."""

    def __init__(self, directory: Directory, trust: TrustPolicy, locations: LastLocations) -> None:
        self._directory = directory
        self._trust = trust
        self._locations = locations

    async def reach(self, peer: str, key: bytes | None) -> PeerLocation | None:
        """Where ``peer`` is, if it holds ``key`` (the key a group's log gives it; None: the
        log does not list it, and then only a peer pinned already, holding its pin); None when
        it may not or cannot be reached now (the next trigger tries again)."""
        try:
            pinned = await self._trust.pinned_key(peer)
        except IdentityChanged:
            log.info("no sync with %s: a key change of theirs waits for the user", peer)
            return None
        expected = key if key is not None else pinned
        if expected is None:
            log.info("no sync with %s: never met, and no group we know lists them", peer)
            return None
        if pinned is not None and pinned != expected:
            log.warning(
                "no sync with %s: the group gives them another key than the one pinned "
                "(a key change: the user decides)",
                peer,
            )
            return None
        location = await self._locate(peer)
        if location is None:
            return None
        if location.key != expected:
            log.warning("no sync with %s: they hold another key than the group says", peer)
            return None
        return location

    async def _locate(self, peer: str) -> PeerLocation | None:
        """The registry's answer for ``peer``, or its last location while the registry is
        away; None when offline, unknown or not found."""
        try:
            return await self._directory.lookup(peer)
        except RegistryUnavailable:
            try:
                found = await self._locations.last_location(peer)
            except IdentityChanged:
                return None
            if found is None:
                log.debug("no sync with %s: the registry is away and they were not seen", peer)
            return found
        except (UserOffline, UnknownUser) as exc:
            log.debug("no sync with %s now: %s", peer, exc)
            return None
