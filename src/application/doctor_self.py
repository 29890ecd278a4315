"""The connection doctor's words about yourself: whether the registry could connect back to you,
and the one thing to do about it (the vocabulary and the words about other people are in
:mod:`chinwag.application.doctor`)."""

from __future__ import annotations

from typing import Final

from chinwag.application.doctor import Advice, Cause, is_loopback, is_wildcard, shown
from chinwag.application.ports.directory import Reachability, RegistryStatus
from chinwag.domain.user import PeerAddress

_CHECK_NETWORK = (
    "check your network connection (if it works, the registry itself is down: tell whoever runs it)"
)

_FORWARD = "to be reached directly, forward port {port} to this computer in your router or firewall"
_LISTEN_WIDE = (
    "to be reached from other computers, listen on a network address instead: "
    "--listen 0.0.0.0:{port}"
)

_VIA_RELAY = "messages reach you through the registry's relay"
_NO_RELAY = "this registry does not relay, so nobody can reach you from outside"

SELF: Final[dict[Cause, Advice]] = {
    Cause.OK: Advice(
        "the registry reached you at {reached}: people can connect to you directly",
        "nothing to do",
    ),
    Cause.REGISTRY_UNREACHABLE: Advice(
        "the registry cannot be reached ({registry}): nobody can look you up, nothing is "
        "relayed, and whether people can connect to you directly is unknown until it is back "
        "(connections already open keep working)",
        _CHECK_NETWORK,
    ),
    Cause.NOT_LISTENING: Advice(
        "you accept no direct connections (--listen none): " + _VIA_RELAY,
        "to be reached directly, start chinwag with --listen and a port people can reach",
    ),
    Cause.REFUSED: Advice(
        "the registry could not connect to you at {listen} (the connection was refused): {via}",
        _FORWARD,
        _LISTEN_WIDE,
    ),
    Cause.TIMEOUT: Advice(
        "the registry got no answer when it tried to connect to you at {listen} (a router or "
        "a firewall drops it): {via}",
        _FORWARD,
        _LISTEN_WIDE,
    ),
    Cause.UNREACHABLE: Advice(
        "the registry found no way to {listen} (an address only your own network knows): {via}",
        "to be reached directly, listen on an address others can reach (--listen) and forward "
        "port {port} to it",
        _LISTEN_WIDE,
    ),
    Cause.KEY_MISMATCH: Advice(
        "something other than your chinwag answered the registry at {listen}: {via}",
        "check that no other program uses port {port}, or listen on another port (--listen)",
    ),
    Cause.NOT_CHECKED: Advice(
        "the registry has not yet checked whether it can connect to you at {listen}",
        "ask again in a few seconds",
    ),
    Cause.NOT_PROBED: Advice(
        "the registry did not check whether it can connect to you at {listen}, as it checks "
        "only the address you connect to it from: {tried}",
        "to have it checked, listen on 0.0.0.0 or your network address: --listen 0.0.0.0:{port}",
    ),
}

SELF_NO_RELAY: Final[dict[Cause, Advice]] = {
    Cause.NOT_LISTENING: Advice(
        "nobody can reach you: you accept no connections (--listen none) and this registry "
        "does not relay",
        "start chinwag with --listen and a port people can reach (e.g. --listen 0.0.0.0:7421)",
    ),
}
"""Where the words differ when the registry does not relay (the others say it in ``{via}``)."""

SELF_NOT_PROBED_NOW: Final = Advice(
    "the registry did not check this time whether it can connect to you on {listen} (it checks "
    "each address only so often, and some registries not at all): {tried}",
    "ask again in a minute",
)
"""``not_probed`` while listening on every address: the address is the one you connect from,
so it was the registry's limits that kept it from checking."""

_TRIED_RELAY = "people try your address directly and fall back to the relay"
_TRIED_NO_RELAY = "people try your address directly (this registry does not relay)"

_PROBE_CAUSES: Final = {
    Reachability.OK: Cause.OK,
    Reachability.NOT_LISTENING: Cause.NOT_LISTENING,
    Reachability.REFUSED: Cause.REFUSED,
    Reachability.TIMEOUT: Cause.TIMEOUT,
    Reachability.UNREACHABLE: Cause.UNREACHABLE,
    Reachability.WRONG_KEY: Cause.KEY_MISMATCH,
    Reachability.HANDSHAKE_FAILED: Cause.KEY_MISMATCH,
    Reachability.NOT_PROBED: Cause.NOT_PROBED,
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


def self_reason(
    cause: Cause,
    registry: RegistryStatus,
    listen: PeerAddress | None,
    *,
    relay: bool = True,
    reached: PeerAddress | None = None,
) -> str:
    """The self report's text. ``relay``: whether the registry relays (as far as known);
    ``reached``: the address the registry has for you (it records the one you connect from
    when you listen on every address), said instead of ``listen`` when it reached you."""
    advice = SELF[cause]
    if not relay:
        advice = SELF_NO_RELAY.get(cause, advice)
    if cause is Cause.NOT_PROBED and is_wildcard(listen):
        advice = SELF_NOT_PROBED_NOW
    said = "nowhere" if listen is None else shown(listen)
    return advice.say(
        loopback=is_loopback(listen),
        registry=registry.value,
        listen=said,
        reached=said if reached is None or is_wildcard(reached) else shown(reached),
        port="(none)" if listen is None else listen.port,
        via=_VIA_RELAY if relay else _NO_RELAY,
        tried=_TRIED_RELAY if relay else _TRIED_NO_RELAY,
    )


def listen_words(listen: PeerAddress | None) -> str:
    """Where you listen, in a few words (``listening on port 45625``)."""
    if listen is None:
        return "accepting no direct connections"
    return f"listening on {shown(listen)}"


def reachable_words(cause: Cause, reachable: bool) -> str:
    """Whether you are reachable directly, in a few words: unknown while the registry (which
    is what finds out) is out of reach, whatever ``reachable`` says."""
    if cause is Cause.REGISTRY_UNREACHABLE:
        return "reachable directly: unknown while the registry is out of reach"
    return "reachable directly" if reachable else "not reachable directly"


# -- about somebody else ------------------------------------------------------------------------
