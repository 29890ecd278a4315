"""The connection doctor: why you can (or cannot) be reached, and how you reach somebody now.

Two use cases, each answering within :data:`DEADLINE` seconds whatever the network does:

- :class:`DiagnoseSelf`: the registry connection, where you listen, whether the registry
  could connect back to you (it is asked to try again now) and whether it relays;
- :class:`DiagnosePeer`: the path to one person (``direct``, ``relayed`` or none), the cause
  from the doctor's fixed list, and the round trip, by looking them up and opening (or reusing)
  a session to them exactly as a delivery would: while the registry is out of reach, at the
  address they were last found at, with the pinned key, as the courier does.

Looking somebody up here never pins or changes a key: the doctor only reads the pins. A key
that differs from the pinned one is the answer (``key_mismatch``), and nothing is sent to it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from chinwag.application.doctor import Cause, Variant, peer_reason, shown, when
from chinwag.application.doctor_self import self_cause, self_reason
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
    """Whether the registry could connect back to you (False also while that is unknown: the
    cause then says why)."""
    cause: Cause
    reason: str
    relay: bool | None = None
    """Whether the registry relays to you; None: not known (it was not asked, or did not say)."""


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


class AboutYourself(ChatError):
    """The doctor asked about your own name: a command that cannot be (the doctor without a
    name answers that), hence ``bad_command`` like any other wrong field."""

    code = "bad_command"


class LastLocations(Protocol):
    """Where people were last found (the courier keeps it): what a delivery uses while the
    registry is out of reach, so the doctor checks the same."""

    async def last_location(self, name: str) -> PeerLocation | None:
        """Their last location with the pinned key; None if there is none to use.
        ``IdentityChanged`` while a key change waits for the user."""
        ...


class DiagnoseSelf:
    """The self report: registry status, listen address, reachability, cause and reason.

    It looks yourself up too: the registry's answer says whether it relays (without a relay,
    nobody reaches you through it) and the address it has for you (the one it connects back
    to when you listen on every address)."""

    def __init__(self, session: Session, directory: Directory) -> None:
        self._session = session
        self._directory = directory

    async def execute(self) -> SelfReport:
        me = self._session.require_user()
        listen = self._session.address
        registry = self._directory.status()
        probe = Reachability.UNKNOWN
        reachable = False
        found: PeerLocation | None = None
        if registry is RegistryStatus.CONNECTED:
            try:
                async with asyncio.timeout(DEADLINE):
                    found = await self._yourself(me)
                    if listen is not None:
                        answer = await self._directory.reachability(fresh=True)
                        probe, reachable = answer.cause, answer.reachable
            except TimeoutError:
                log.info("the registry did not say within %ss whether it reaches us", DEADLINE)
            registry = self._directory.status()  # it may have gone meanwhile
        cause = self_cause(registry, listen, probe)
        if cause is not Cause.OK:
            reachable = False
        relay = None if found is None else found.relay
        reason = self_reason(
            cause,
            registry,
            listen,
            relay=relay is not False,
            reached=None if found is None else found.address,
        )
        return SelfReport(registry, listen, reachable, cause, reason, relay)

    async def _yourself(self, me: str) -> PeerLocation | None:
        """Your registration as others see it; None if the registry does not say (the words
        then assume it relays, as registries do unless told not to)."""
        try:
            return await self._directory.lookup(me)
        except ChatError as exc:
            log.info("could not look ourselves up: %s", exc)
            return None


class DiagnosePeer:
    """The report about one person (see the module's docstring)."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        transport: PeerTransport,
        trust: TrustPolicy,
        last_seen: LastSeen,
        last_known: LastLocations | None = None,
    ) -> None:
        self._session = session
        self._directory = directory
        self._transport = transport
        self._trust = trust
        self._last_seen = last_seen
        self._last_known = last_known

    async def execute(self, name: str) -> PeerReport:
        """Raises ``NotSignedIn``, ``InvalidUsername`` for a name that cannot be one, and
        ``AboutYourself`` for your own name; every other trouble is the answer."""
        me = self._session.require_user()
        peer = normalize_username(name)
        if peer == me:
            raise AboutYourself(
                "that is you: ask the doctor without a name about your own connection"
            )
        try:
            async with asyncio.timeout(DEADLINE):
                return await self._diagnose(peer)
        except TimeoutError:
            return _report(peer, Cause.TIMEOUT, relay=True)

    async def _diagnose(self, peer: str) -> PeerReport:
        try:
            location = await self._directory.lookup(peer)
        except RegistryUnavailable:
            return await self._without_registry(peer)
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
        return await self._probe(peer, location)

    async def _probe(
        self, peer: str, location: PeerLocation, *, last_known: bool = False
    ) -> PeerReport:
        """Open (or reuse) a session to ``location`` and time a round trip; ``last_known``: the
        location is the one last found, the registry being out of reach."""
        try:
            probe = await self._transport.probe(peer, location)
        except PeerUnreachable as exc:
            if last_known and exc.cause != "key_mismatch":
                why = _attempt(exc.cause, location.address)
                return _report(peer, Cause.REGISTRY_UNREACHABLE, Variant.LAST_FAILED, why=why)
            return _unreachable(peer, location, exc.cause)
        except PeerRefused as exc:
            if exc.reason in ("identity_changed", "wrong_key"):
                return _report(peer, Cause.KEY_MISMATCH, Variant.THEY_REFUSE_KEY)
            detail = _REFUSALS.get(exc.reason, "it did not say why")
            return _report(peer, Cause.REFUSED, Variant.THEY_REFUSE, detail=detail)
        except IdentityChanged:
            return _report(peer, Cause.KEY_MISMATCH, Variant.CHANGED)
        except RegistryUnavailable:
            if last_known:
                return _report(peer, Cause.REGISTRY_UNREACHABLE, Variant.LAST_FAILED)
            return await self._without_registry(peer)
        rtt_ms = round(probe.rtt * 1000, 1)
        why = ""
        if last_known:
            variant = Variant.LAST_KNOWN
        elif probe.route is Route.DIRECT:
            variant = Variant.DIRECT
        else:
            variant = _why_relayed(location)
            if variant is Variant.DIRECT_FAILED and probe.direct_failure is not None:
                why = _attempt(probe.direct_failure, location.address)
        reason = peer_reason(
            Cause.OK, variant, peer, address=location.address, route=probe.route, why=why
        )
        return PeerReport(peer, probe.route, Cause.OK, reason, rtt_ms)

    async def _without_registry(self, peer: str) -> PeerReport:
        """The registry is out of reach: nobody can be looked up and nothing relayed. A
        delivery then goes to where they were last found, with the pinned key: so does the
        doctor. Else a session still open keeps working."""
        try:
            last = None if self._last_known is None else await self._last_known.last_location(peer)
        except IdentityChanged:
            return _report(peer, Cause.KEY_MISMATCH, Variant.CHANGED)
        if last is not None:
            return await self._probe(peer, last, last_known=True)
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


def _attempt(cause: str, address: PeerAddress | None) -> str:
    """What a connection attempt to ``address`` ran into, in a few words ("" if unknown)."""
    where = "their address" if address is None else shown(address)
    return {
        "refused": f"refused at {where}",
        "timeout": f"no answer from {where} in time",
        "unreachable": f"no way to {where}",
    }.get(cause, "")


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
    why: str = "",
) -> PeerReport:
    """A report of a path that does not work (none)."""
    reason = peer_reason(cause, variant, peer, address=address, relay=relay, detail=detail, why=why)
    return PeerReport(peer, None, cause, reason)
