"""The connection doctor: why you can (or cannot) be reached, and how you reach somebody now.

Two use cases, each answering within :data:`DEADLINE` seconds whatever the network does:

- :class:`DiagnoseSelf`: the registry connection, where you listen, and whether the registry
  could connect back to you (it is asked to try again now);
- :class:`DiagnosePeer`: the path to one person (``direct``, ``relayed`` or none), the cause
  from the doctor's fixed list, and the round trip, by looking them up and opening (or reusing)
  a session to them exactly as a delivery would.

Looking somebody up here never pins or changes a key: the doctor only reads the pins. A key
that differs from the pinned one is the answer (``key_mismatch``), and nothing is sent to it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from chinwag.application.doctor import (
    Cause,
    Variant,
    peer_reason,
    self_cause,
    self_reason,
    when,
)
from chinwag.application.errors import (
    ChatError,
    IdentityChanged,
    PeerRefused,
    PeerUnreachable,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import (
    Directory,
    PeerLocation,
    Reachability,
    RegistryStatus,
)
from chinwag.application.ports.peer_transport import PeerTransport, Route
from chinwag.application.presence import LastSeen
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.user import PeerAddress, normalize_username

log = logging.getLogger(__name__)

DEADLINE: Final = 8.0
"""Seconds a diagnosis may take in all (the promise is an answer within 10 s: the rest is
room for the client to say it). A check still running then answers ``timeout``."""


@dataclass(frozen=True, slots=True)
class SelfReport:
    """Your side of the connection."""

    registry: RegistryStatus
    listen: PeerAddress | None
    """Where you accept direct connections; None: nowhere (``--listen none``)."""
    reachable: bool
    """Whether the registry could connect back to you."""
    cause: Cause
    reason: str


@dataclass(frozen=True, slots=True)
class PeerReport:
    """How you reach ``name`` now, and why."""

    name: str
    route: Route | None
    """The route messages take now; None: none works."""
    cause: Cause
    reason: str
    rtt_ms: float | None = None
    since: datetime | None = None
    """When they were seen going offline (``offline`` only, and only when known)."""

    @property
    def path(self) -> str:
        """``direct``, ``relayed`` or ``none``."""
        return "none" if self.route is None else self.route.value


class DiagnoseSelf:
    """The self report: registry status, listen address, reachability, cause and reason."""

    def __init__(self, session: Session, directory: Directory) -> None:
        self._session = session
        self._directory = directory

    async def execute(self) -> SelfReport:
        self._session.require_user()
        listen = self._session.address
        registry = self._directory.status()
        probe = Reachability.UNKNOWN
        reachable = False
        if registry is RegistryStatus.CONNECTED and listen is not None:
            try:
                async with asyncio.timeout(DEADLINE):
                    found = await self._directory.reachability(fresh=True)
                probe, reachable = found.cause, found.reachable
            except TimeoutError:
                log.info("the registry did not say within %ss whether it reaches us", DEADLINE)
            registry = self._directory.status()  # it may have gone meanwhile
        cause = self_cause(registry, listen, probe)
        if cause is not Cause.OK:
            reachable = False
        return SelfReport(registry, listen, reachable, cause, self_reason(cause, registry, listen))


class DiagnosePeer:
    """The report about one person (see the module's docstring)."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        transport: PeerTransport,
        trust: TrustPolicy,
        last_seen: LastSeen,
    ) -> None:
        self._session = session
        self._directory = directory
        self._transport = transport
        self._trust = trust
        self._last_seen = last_seen

    async def execute(self, name: str) -> PeerReport:
        """Raises ``NotSignedIn``, ``InvalidUsername`` for a name that cannot be one, and
        ``ChatError`` for your own name; every other trouble is the answer."""
        me = self._session.require_user()
        peer = normalize_username(name)
        if peer == me:
            raise ChatError("that is you: ask the doctor without a name about your own connection")
        try:
            async with asyncio.timeout(DEADLINE):
                return await self._diagnose(peer)
        except TimeoutError:
            return _report(peer, Cause.TIMEOUT, relay=True)

    async def _diagnose(self, peer: str) -> PeerReport:
        try:
            location = await self._directory.lookup(peer)
        except RegistryUnavailable:
            return self._without_registry(peer)
        except UnknownUser:
            return _report(peer, Cause.NOT_REGISTERED)
        except UserOffline:
            return self._offline(peer)
        try:
            pinned = await self._trust.pinned_key(peer)
        except IdentityChanged:
            return _report(peer, Cause.KEY_MISMATCH, Variant.CHANGED)
        if pinned is not None and pinned != location.key:
            return _report(peer, Cause.KEY_MISMATCH, Variant.CHANGED)
        try:
            probe = await self._transport.probe(peer, location)
        except PeerUnreachable as exc:
            return _unreachable(peer, location, exc.cause)
        except PeerRefused as exc:
            if exc.reason in ("identity_changed", "wrong_key"):
                return _report(peer, Cause.KEY_MISMATCH, Variant.THEY_REFUSE_KEY)
            detail = _REFUSALS.get(exc.reason, "it did not say why")
            return _report(peer, Cause.REFUSED, Variant.THEY_REFUSE, detail=detail)
        except IdentityChanged:
            return _report(peer, Cause.KEY_MISMATCH, Variant.CHANGED)
        except RegistryUnavailable:
            return self._without_registry(peer)
        rtt_ms = round(probe.rtt * 1000, 1)
        variant = Variant.DIRECT if probe.route is Route.DIRECT else _why_relayed(location)
        return PeerReport(
            peer,
            probe.route,
            Cause.OK,
            peer_reason(Cause.OK, variant, peer, address=location.address, rtt_ms=rtt_ms),
            rtt_ms,
        )

    def _without_registry(self, peer: str) -> PeerReport:
        """The registry is out of reach: nobody can be looked up and nothing relayed; a session
        still open keeps working."""
        route = self._transport.route(peer)
        variant = Variant.PLAIN if route is None else Variant.SESSION_OPEN
        return PeerReport(
            peer,
            route,
            Cause.REGISTRY_UNREACHABLE,
            peer_reason(Cause.REGISTRY_UNREACHABLE, variant, peer, route=route),
        )

    def _offline(self, peer: str) -> PeerReport:
        since = self._last_seen.since(peer)
        said = "" if since is None else when(since, self._last_seen.now())
        reason = peer_reason(Cause.OFFLINE, Variant.PLAIN, peer, since=said)
        return PeerReport(peer, None, Cause.OFFLINE, reason, since=since)


_REFUSALS: Final = {
    "over_quota": "you sent more than it takes at once",
    "unverified": "it cannot check your key with the registry now",
}
"""A peer's refusal codes, in words."""

_CAUSES: Final = {
    "refused": Cause.REFUSED,
    "timeout": Cause.TIMEOUT,
    "key_mismatch": Cause.KEY_MISMATCH,
    "relay_off": Cause.RELAY_OFF,
    "relay_full": Cause.RELAY_FULL,
    "relay_limit": Cause.RELAY_LIMIT,
    "registry_unreachable": Cause.REGISTRY_UNREACHABLE,
    "unreachable": Cause.UNREACHABLE,
    "lost": Cause.UNREACHABLE,
}
"""``PeerUnreachable.cause`` words as the doctor's causes."""


def _unreachable(peer: str, location: PeerLocation, word: str) -> PeerReport:
    cause = _CAUSES.get(word, Cause.UNREACHABLE)
    variant = Variant.PLAIN
    if cause is Cause.KEY_MISMATCH:
        variant = Variant.IMPOSTOR
    elif word == "lost":
        variant = Variant.LOST
    elif not location.relay and (cause is Cause.UNREACHABLE or location.address is None):
        # No route at all, and no relay to take: relaying being off is what to name.
        cause = Cause.RELAY_OFF
        variant = Variant.NO_LISTEN if location.address is None else Variant.PLAIN
    return _report(peer, cause, variant, address=location.address, relay=location.relay)


def _why_relayed(location: PeerLocation) -> Variant:
    if location.address is None:
        return Variant.NO_LISTEN
    if location.reachable is False:
        return Variant.PORT_CLOSED
    return Variant.DIRECT_FAILED


def _report(
    peer: str,
    cause: Cause,
    variant: Variant = Variant.PLAIN,
    *,
    address: PeerAddress | None = None,
    relay: bool = True,
    detail: str = "",
) -> PeerReport:
    """A report of a path that does not work (none)."""
    reason = peer_reason(cause, variant, peer, address=address, relay=relay, detail=detail)
    return PeerReport(peer, None, cause, reason)
