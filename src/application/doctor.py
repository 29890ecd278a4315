"""The connection doctor's vocabulary: a fixed list of causes, and what each means in plain words.

Every answer of the doctor names exactly one :class:`Cause` and says, in one sentence, what is
going on and the one thing to do about it ("bob's port is not reachable from outside: messages
to bob go through the relay; to connect directly, bob can forward port 7421"). The words are
made here, once, so that the terminal, the JSON lines and the desktop app say the same thing;
the clients only lay them out. Texts name the person and the action and avoid network jargon:
the people who read them did not ask to learn what NAT is.

The use cases that ask the questions are in :mod:`chinwag.application.use_cases.diagnose`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from chinwag.application.ports.directory import Reachability, RegistryStatus
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
    """Yourself only: the registry has not tried to connect back to you yet."""


@dataclass(frozen=True, slots=True)
class Advice:
    """What is going on, and the one thing to do about it: templates over the facts of one
    answer (``{name}``, ``{port}``, ...)."""

    what: str
    action: str

    def say(self, **facts: object) -> str:
        """The reason text: ``what; action``, the facts filled in (as text, never as templates:
        a name or an address cannot inject a placeholder of its own)."""
        return f"{self.what.format(**facts)}; {self.action.format(**facts)}"


# -- about yourself -----------------------------------------------------------------------------

_CHECK_NETWORK = (
    "check your network connection (if it works, the registry itself is down: tell whoever runs it)"
)

_FORWARD = "to be reached directly, forward port {port} to this computer in your router or firewall"

SELF: Final[dict[Cause, Advice]] = {
    Cause.OK: Advice(
        "the registry reached you at {listen}: people can connect to you directly",
        "nothing to do",
    ),
    Cause.REGISTRY_UNREACHABLE: Advice(
        "the registry cannot be reached ({registry}): nobody can look you up and nothing is "
        "relayed, though connections already open keep working",
        _CHECK_NETWORK,
    ),
    Cause.NOT_LISTENING: Advice(
        "you accept no direct connections (--listen none): messages reach you through the "
        "registry's relay",
        "to be reached directly, start chinwag with --listen and a port people can reach",
    ),
    Cause.REFUSED: Advice(
        "the registry could not connect to you at {listen} (the connection was refused): "
        "messages reach you through the registry's relay",
        _FORWARD,
    ),
    Cause.TIMEOUT: Advice(
        "the registry got no answer when it tried to connect to you at {listen} (a router or "
        "a firewall drops it): messages reach you through the registry's relay",
        _FORWARD,
    ),
    Cause.UNREACHABLE: Advice(
        "the registry found no way to {listen} (an address only your own network knows): "
        "messages reach you through the registry's relay",
        "to be reached directly, listen on an address others can reach (--listen) and forward "
        "port {port} to it",
    ),
    Cause.KEY_MISMATCH: Advice(
        "something other than your chinwag answered the registry at {listen}: messages reach "
        "you through the registry's relay",
        "check that no other program uses port {port}, or listen on another port (--listen)",
    ),
    Cause.NOT_CHECKED: Advice(
        "the registry has not yet checked whether it can connect to you at {listen}",
        "ask again in a few seconds",
    ),
}

_PROBE_CAUSES: Final = {
    Reachability.OK: Cause.OK,
    Reachability.NOT_LISTENING: Cause.NOT_LISTENING,
    Reachability.REFUSED: Cause.REFUSED,
    Reachability.TIMEOUT: Cause.TIMEOUT,
    Reachability.UNREACHABLE: Cause.UNREACHABLE,
    Reachability.WRONG_KEY: Cause.KEY_MISMATCH,
    Reachability.HANDSHAKE_FAILED: Cause.KEY_MISMATCH,
    Reachability.NOT_PROBED: Cause.NOT_CHECKED,
    Reachability.UNKNOWN: Cause.NOT_CHECKED,
}


def self_cause(registry: RegistryStatus, listen: PeerAddress | None, probe: Reachability) -> Cause:
    """The cause of the self report: the registry first (without it nothing is known), then
    ``--listen none``, then what the registry's probe found."""
    if registry is not RegistryStatus.CONNECTED:
        return Cause.REGISTRY_UNREACHABLE
    if listen is None:
        return Cause.NOT_LISTENING
    return _PROBE_CAUSES.get(probe, Cause.NOT_CHECKED)


def self_reason(cause: Cause, registry: RegistryStatus, listen: PeerAddress | None) -> str:
    return SELF[cause].say(
        registry=registry.value,
        listen="nowhere" if listen is None else str(listen),
        port="(none)" if listen is None else listen.port,
    )


# -- about somebody else ------------------------------------------------------------------------


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

PEER: Final[dict[tuple[Cause, Variant], Advice]] = {
    (Cause.OK, Variant.DIRECT): Advice(
        "{name} is reachable directly (round trip {rtt})", "nothing to do"
    ),
    (Cause.OK, Variant.NO_LISTEN): Advice(
        "{name} accepts no direct connections: messages to {name} go through the relay "
        "(round trip {rtt})",
        "to connect directly, {name} can start chinwag with --listen and a port you can reach",
    ),
    (Cause.OK, Variant.PORT_CLOSED): Advice(
        "{name}'s port is not reachable from outside: messages to {name} go through the relay "
        "(round trip {rtt})",
        "to connect directly, {name} can forward port {port}",
    ),
    (Cause.OK, Variant.DIRECT_FAILED): Advice(
        "a direct connection to {name} did not work from here: messages to {name} go through "
        "the relay (round trip {rtt})",
        "to connect directly, {name} can check that port {port} is open to you",
    ),
    (Cause.REGISTRY_UNREACHABLE, Variant.PLAIN): Advice(
        "the registry cannot be reached, so {name} cannot be looked up and nothing is relayed: "
        "messages to {name} wait",
        _CHECK_NETWORK,
    ),
    (Cause.REGISTRY_UNREACHABLE, Variant.SESSION_OPEN): Advice(
        "the registry cannot be reached, but the connection to {name} that was open still "
        "works ({path})",
        _CHECK_NETWORK,
    ),
    (Cause.NOT_REGISTERED, Variant.PLAIN): Advice(
        "nobody called {name} has ever signed in with this registry",
        "check the spelling of the name",
    ),
    (Cause.OFFLINE, Variant.PLAIN): Advice(
        "{name} is offline{since}: messages to {name} wait and go out when {name} is back",
        "ask {name} to start chinwag",
    ),
    (Cause.REFUSED, Variant.PLAIN): Advice(
        "{name}'s computer refused the connection at {address}{norelay}: " + _TRY_LATER,
        "ask {name} to check that chinwag is running and that port {port} is open to you",
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
    rtt_ms: float | None = None,
    since: str = "",
    route: Route | None = None,
    detail: str = "",
) -> str:
    """The reason text for ``name``; ``variant`` picks the sentence (falling back to the
    cause's plain one)."""
    advice = PEER.get((cause, variant)) or PEER[(cause, Variant.PLAIN)]
    return advice.say(
        name=name,
        address="an unknown address" if address is None else str(address),
        port="a port" if address is None else address.port,
        norelay="" if relay else ", and this registry does not relay",
        rtt="unknown" if rtt_ms is None else f"{rtt_ms:.0f} ms",
        since=f" since {since}" if since else "",
        path=route.value if route is not None else "none",
        detail=detail,
    )


def when(moment: datetime, now: datetime) -> str:
    """``moment`` for "offline since …", in local time: the hour on the same day, else the
    date and the hour."""
    local, today = moment.astimezone(), now.astimezone()
    if local.date() == today.date():
        return f"{local:%H:%M}"
    return f"{local:%d %b %H:%M}".lstrip("0")
