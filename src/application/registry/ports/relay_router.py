"""Reaching a client held by another registry of the network (relay offers, kicks), and the
relay's sessions as the use case that offers one sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chinwag.domain.registry.presence import OnlineEntry
from chinwag.domain.registry.refusals import KickCode, Refusal
from chinwag.domain.registry.relay import RelaySettings


@dataclass(frozen=True, slots=True)
class RelayOffer:
    """A relayed session ``sid`` that ``from_`` asked for, to be joined within ``timeout``
    seconds on one of ``via`` (the asking registry's advertised URLs; None: the registry that
    pushes it, filled in by the router when it crosses to another)."""

    sid: str
    from_: str
    timeout: float
    via: tuple[str, ...] | None = None


class RelayRouter(Protocol):
    """Delivers to the registry holding an entry's epoch: this one directly, another through
    the network's bus."""

    async def offer(self, target: OnlineEntry, offer: RelayOffer) -> bool:
        """Push ``offer`` as ``relay_incoming`` to the session holding ``target.epoch``; False
        if it could not be handed on (that registry is gone, or the store is away)."""
        ...

    async def kick(self, entry: OnlineEntry, code: KickCode) -> None:
        """End the registration ``entry`` (on whatever registry holds it) with ``code``."""
        ...

    def advertised(self) -> list[str]:
        """This registry's URLs, for the ``via`` of offers it sends elsewhere."""
        ...


class RelaySessions(Protocol):
    """The relay's sessions (the adapter's ``RelayHub``): the use case asks whether one more
    may be made, makes it, and drops it if it cannot be offered."""

    @property
    def settings(self) -> RelaySettings: ...

    def refusal(
        self, asker_key: bytes, target_key: bytes, target_name: str, address: str
    ) -> Refusal | None:
        """Why one more session from ``asker_key`` (asking from the address group ``address``)
        to ``target_key`` may not be made now (the places taken, the memory the relay holds),
        or None."""
        ...

    def open(self, asker_key: bytes, target_key: bytes, address: str) -> str:
        """Make a session (its places taken, its join deadline running); its id."""
        ...

    def cancel(self, sid: str) -> None:
        """Drop session ``sid`` before anybody joined it (the offer did not reach the target)."""
        ...
