"""Changes from the other registries of the network, and notes addressed to this one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.domain.registry.presence import PresenceChange
from chinwag.domain.registry.refusals import KickCode


@dataclass(frozen=True, slots=True)
class OfferNote:
    """Push ``offer`` to the session holding ``name`` as ``epoch`` here."""

    name: str
    epoch: str
    offer: RelayOffer


@dataclass(frozen=True, slots=True)
class KickNote:
    """End the session holding ``name`` as ``epoch`` here, with ``code``."""

    name: str
    epoch: str
    code: KickCode


@dataclass(frozen=True, slots=True)
class ReleasedNote:
    """The operator released ``name``: forget its cached binding; its holder is told
    ``released`` once another key binds it."""

    name: str


Note = OfferNote | KickNote | ReleasedNote
"""What one registry tells another (or every other, for a release)."""


class PresenceBus(Protocol):
    """Presence changes of the names this registry follows, from wherever they happen, and the
    notes addressed to it. In one process (no Redis) it is the memory store's own."""

    async def publish(self, change: PresenceChange) -> None:
        """Tell every registry following ``change.name`` (done by a shared store's ``join``
        and ``leave`` themselves; the memory store calls this)."""
        ...

    async def follow(self, names: Iterable[str]) -> None:
        """Hear the changes of ``names`` from now on (a first local watcher)."""
        ...

    async def unfollow(self, names: Iterable[str]) -> None:
        """Stop hearing ``names`` (their last local watcher is gone)."""
        ...

    async def follow_all(self, on: bool) -> None:
        """Hear every change (EVERYONE mode, or a version-2 session here), or stop."""
        ...

    def listen(
        self,
        on_change: Callable[[PresenceChange], None],
        on_note: Callable[[Note], None],
        on_resync: Callable[[], None],
    ) -> None:
        """Call ``on_change`` for each change heard, ``on_note`` for each note to this registry,
        and ``on_resync`` after the bus came back from a loss (changes may have been missed)."""
        ...
