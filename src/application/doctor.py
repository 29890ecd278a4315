"""The connection doctor's vocabulary: a fixed list of causes, and what each means in plain words.

Every answer of the doctor names exactly one :class:`Cause` and says, in one sentence, what is
going on and the one thing to do about it ("bob's port is not reachable from outside: messages
to bob go through the relay; to connect directly, bob can forward port 7421"). The words are
made here, once, so that the terminal, the JSON lines and the desktop app say the same thing;
the clients only lay them out. Texts name the person and the action and avoid network jargon:
the people who read them did not ask to learn what NAT is.

Two facts change the advice everywhere: whether the registry relays (without a relay, nothing
"reaches you through the relay"), and whether the address in question is a loopback one (127.x,
``::1``: only its own computer can connect to it, so forwarding a port cannot help; listening on
a network address can). A wildcard address (``0.0.0.0:45625``) is said as its port.

The words about yourself are in :mod:`chinwag.application.doctor_self`; the use cases that ask
the questions are in :mod:`chinwag.application.use_cases.diagnose`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from chinwag.application.ports.peer_transport import Route
from chinwag.domain.user import PeerAddress


class Cause(StrEnum):
    """Why a connection works as it does: one word of a fixed list (documented in the README)."""

    OK = "ok"
    """A working path (direct or relayed)."""
    REGISTRY_UNREACHABLE = "registry_unreachable"
    NOT_REGISTERED = "not_registered"
    OFFLINE = "offline"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    KEY_MISMATCH = "key_mismatch"
    RELAY_FULL = "relay_full"
    RELAY_LIMIT = "relay_limit"
    RELAY_OFF = "relay_off"
    UNREACHABLE = "unreachable"
    """No way to the computer at all (no route), or the connection broke while checking."""
    NOT_LISTENING = "not_listening"
    """Yourself only: you accept no direct connections (``--listen none``)."""
    NOT_CHECKED = "not_checked"
    """Yourself only: the registry has not said yet whether it can connect back to you."""
    NOT_PROBED = "not_probed"
    """Yourself only: the registry did not try to connect back to you (it tries only the address
    you connect to it from, and only so often)."""


@dataclass(frozen=True, slots=True)
class Advice:
    """What is going on, and the one thing to do about it: templates over the facts of one
    answer (``{name}``, ``{port}``, ...)."""

    what: str
    action: str
    local: str = ""
    """The action instead when the address in question is a loopback one ("" : the same)."""

    def say(self, *, loopback: bool = False, **facts: object) -> str:
        """The reason text: ``what; action``, the facts filled in (as text, never as templates:
        a name or an address cannot inject a placeholder of its own)."""
        action = self.local if loopback and self.local else self.action
        return f"{self.what.format(**facts)}; {action.format(**facts)}"


# -- addresses and round trips, in words --------------------------------------------------------


def is_loopback(address: PeerAddress | None) -> bool:
    """Whether only the computer itself can connect to ``address`` (127.x, ``::1``)."""
    if address is None:
        return False
    if address.host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.host).is_loopback
    except ValueError:
        return False


def is_wildcard(address: PeerAddress | None) -> bool:
    """Whether ``address`` listens on every address of the computer (``0.0.0.0``, ``::``)."""
    if address is None:
        return False
    try:
        return ipaddress.ip_address(address.host).is_unspecified
    except ValueError:
        return False


def shown(address: PeerAddress) -> str:
    """``address`` for people: ``port 45625`` for a wildcard (nobody connects to 0.0.0.0), else
    ``HOST:PORT``."""
    return f"port {address.port}" if is_wildcard(address) else str(address)


def round_trip(rtt_ms: float | None) -> str:
    """A round trip for people: ``12 ms``, ``under 1 ms``; "" when none was measured."""
    if rtt_ms is None:
        return ""
    return "under 1 ms" if rtt_ms < 1 else f"{rtt_ms:.0f} ms"


# -- about yourself -----------------------------------------------------------------------------


class Variant(StrEnum):
    """Which of a cause's sentences fits: the same cause can come about in a few ways that
    call for different words (an ``ok`` path is direct, or relayed for one of three reasons)."""

    PLAIN = "plain"
    DIRECT = "direct"
    NO_LISTEN = "no_listen"
    """They accept no direct connections."""
    PORT_CLOSED = "port_closed"
    """The registry could not connect back to them."""
    DIRECT_FAILED = "direct_failed"
    """Their port looked open, but our direct attempt failed."""
    SESSION_OPEN = "session_open"
    """The registry is out of reach, but a connection to them is still open."""
    LAST_KNOWN = "last_known"
    """The registry is out of reach; they answer where they were last found."""
    LAST_FAILED = "last_failed"
    """The registry is out of reach, and they do not answer where they were last found."""
    CHANGED = "changed"
    """Their key is not the one pinned (waiting for the user, or the registry binds another)."""
    IMPOSTOR = "impostor"
    """What answered at their address did not prove their key."""
    THEY_REFUSE_KEY = "they_refuse_key"
    """Their chinwag does not accept our key."""
    THEY_REFUSE = "they_refuse"
    """Their chinwag turned us away for now (a quota, the registry out of reach on their side)."""
    LOST = "lost"
    """The connection broke while checking."""


_TRY_LATER = "messages to {name} wait and are tried again"
_REGISTRY_BACK = "check your network connection"
_PEER_LISTEN_WIDE = (
    "ask {name} to listen on a network address (--listen 0.0.0.0:{port}): {address} can be "
    "reached from their own computer only"
)

PEER: Final[dict[tuple[Cause, Variant], Advice]] = {
    (Cause.OK, Variant.DIRECT): Advice("{name} is reachable directly", "nothing to do"),
    (Cause.OK, Variant.NO_LISTEN): Advice(
        "{name} accepts no direct connections: messages to {name} go through the relay",
        "to connect directly, {name} can start chinwag with --listen and a port you can reach",
    ),
    (Cause.OK, Variant.PORT_CLOSED): Advice(
        "{name}'s port is not reachable from outside: messages to {name} go through the relay",
        "to connect directly, {name} can forward port {port}",
        _PEER_LISTEN_WIDE,
    ),
    (Cause.OK, Variant.DIRECT_FAILED): Advice(
        "a direct connection to {name} did not work from here{why}: messages to {name} go "
        "through the relay",
        "to connect directly, {name} can check that port {port} is open to you",
        _PEER_LISTEN_WIDE,
    ),
    (Cause.OK, Variant.LAST_KNOWN): Advice(
        "the registry is out of reach, but {name} still answers {where}", "nothing to do"
    ),
    (Cause.REGISTRY_UNREACHABLE, Variant.PLAIN): Advice(
        "the registry is out of reach, so {name} cannot be looked up: messages to {name} wait",
        _REGISTRY_BACK,
    ),
    (Cause.REGISTRY_UNREACHABLE, Variant.LAST_FAILED): Advice(
        "the registry is out of reach and {name} did not answer at the last known "
        "address{why}: messages to {name} wait",
        _REGISTRY_BACK,
    ),
    (Cause.REGISTRY_UNREACHABLE, Variant.SESSION_OPEN): Advice(
        "the registry is out of reach, but your open connection to {name} still works",
        _REGISTRY_BACK,
    ),
    (Cause.NOT_REGISTERED, Variant.PLAIN): Advice(
        "nobody called '{name}' has ever signed in with this registry",
        "check the spelling of the name",
    ),
    (Cause.OFFLINE, Variant.PLAIN): Advice(
        "{name} {offline}: messages to {name} wait and go out when {name} is back",
        "ask {name} to start chinwag",
    ),
    (Cause.REFUSED, Variant.PLAIN): Advice(
        "{name}'s computer refused the connection at {address}{norelay}: " + _TRY_LATER,
        "ask {name} to check that chinwag is running and that port {port} is open to you",
        _PEER_LISTEN_WIDE,
    ),
    (Cause.REFUSED, Variant.THEY_REFUSE): Advice(
        "{name}'s chinwag turned you away for now ({detail}): " + _TRY_LATER,
        "wait a while: it takes more later by itself",
    ),
    (Cause.TIMEOUT, Variant.PLAIN): Advice(
        "{name} did not answer in time{norelay}: " + _TRY_LATER,
        "if it keeps happening, ask {name} to check their network connection",
    ),
    (Cause.KEY_MISMATCH, Variant.CHANGED): Advice(
        "{name}'s key is not the one you pinned: nothing goes to or comes from {name} until "
        "you accept it",
        "compare safety numbers with {name} (verify) before you accept the new key",
    ),
    (Cause.KEY_MISMATCH, Variant.IMPOSTOR): Advice(
        "what answered at {name}'s address could not prove it is {name}: nothing was sent "
        "to it, and " + _TRY_LATER,
        "compare safety numbers with {name} (verify) to find out whether their key changed",
    ),
    (Cause.KEY_MISMATCH, Variant.THEY_REFUSE_KEY): Advice(
        "{name}'s chinwag does not accept your key yet: " + _TRY_LATER,
        "ask {name} to compare safety numbers with you and accept your key",
    ),
    (Cause.RELAY_OFF, Variant.NO_LISTEN): Advice(
        "{name} accepts no direct connections and this registry does not relay: messages to "
        "{name} wait",
        "ask {name} to start chinwag with --listen and a port you can reach",
    ),
    (Cause.RELAY_OFF, Variant.PLAIN): Advice(
        "{name} cannot be reached directly and this registry does not relay: messages to "
        "{name} wait",
        "{name} can forward port {port}, so that you can connect directly",
        _PEER_LISTEN_WIDE,
    ),
    (Cause.RELAY_FULL, Variant.PLAIN): Advice(
        "{name} can only be reached through the relay, and the relay is full: " + _TRY_LATER,
        "try again later (the registry's operator can let the relay carry more)",
    ),
    (Cause.RELAY_LIMIT, Variant.PLAIN): Advice(
        "you already have as many relayed conversations open as the registry allows one "
        "person: " + _TRY_LATER,
        "wait for another relayed conversation to end",
    ),
    (Cause.UNREACHABLE, Variant.PLAIN): Advice(
        "there is no way from here to {name}'s computer at {address}{norelay}: " + _TRY_LATER,
        "ask {name} to check their network connection",
        _PEER_LISTEN_WIDE,
    ),
    (Cause.UNREACHABLE, Variant.LOST): Advice(
        "the connection to {name} broke while checking: " + _TRY_LATER,
        "ask again in a minute",
    ),
}


def peer_reason(
    cause: Cause,
    variant: Variant,
    name: str,
    *,
    address: PeerAddress | None = None,
    relay: bool = True,
    since: str = "",
    route: Route | None = None,
    detail: str = "",
    why: str = "",
) -> str:
    """The reason text for ``name``; ``variant`` picks the sentence (falling back to the
    cause's plain one). ``why``: what a connection attempt ran into ("refused at …"), if
    known. The round trip is not in it: the clients show it next to the path."""
    advice = PEER.get((cause, variant)) or PEER[(cause, Variant.PLAIN)]
    return advice.say(
        loopback=is_loopback(address),
        name=name,
        address="an unknown address" if address is None else shown(address),
        port="a port" if address is None else address.port,
        norelay="" if relay else ", and this registry does not relay",
        offline=f"has been offline since {since}" if since else "is offline",
        where=(
            "through the relay session still open"
            if route is Route.RELAYED
            else "at the last known address"
        ),
        detail=detail,
        why=f" ({why})" if why else "",
    )


def when(moment: datetime, now: datetime) -> str:
    """``moment`` for "offline since …", in local time: the hour on the same day, else the
    date and the hour."""
    local, today = moment.astimezone(), now.astimezone()
    if local.date() == today.date():
        return f"{local:%H:%M}"
    return f"{local:%d %b %H:%M}".lstrip("0")
