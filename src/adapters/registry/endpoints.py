"""Where a client finds its registries: the ``--registry`` text parsed into endpoints, and the
order in which a client tries them after a failure.

``--registry`` (and ``CHINWAG_REGISTRY``) names one registry or a comma-separated list of
registries sharing one network. Each item is one of::

    HOST:PORT   HOST                        plain TCP (port 7420), as chinwag always took
    tcp://HOST[:PORT]                       the same, spelled as a URL
    ws://HOST[:PORT][/PATH]                 WebSocket (port 80, path /chinwag)
    wss://HOST[:PORT][/PATH]                WebSocket over TLS (port 443, path /chinwag)

with an IPv6 address in brackets (``[::1]:7420``, ``ws://[2001:db8::1]/chinwag``). A path given
is kept as given, ``/`` too: the registry serves ``/chinwag``, but a proxy in front of it may map
any path to it. Every endpoint
has one spelling, :attr:`RegistryEndpoint.pin_name`, which its key is pinned under: for TCP that
is ``host:port`` exactly as :func:`~chinwag.adapters.registry.pins.registry_address` made it
before there were lists, so pins made by an older chinwag still match.

Nothing here does I/O: a host name is checked by syntax only (:func:`validate_host`) and
resolved when connecting, where the OS resolver tries its addresses one by one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from chinwag.adapters.registry.pins import registry_address
from chinwag.domain.user import validate_host

REGISTRY_PORT: Final = 7420
"""The registry's TCP port when none is given (``chinwag-registry``'s default)."""
WS_PATH: Final = "/chinwag"
"""The WebSocket path when none is given (the registry's listener serves this one only)."""
MAX_ENDPOINTS: Final = 16
"""The most registries one ``--registry`` may list: a network is run by a few, and a client
tries them all in turn before its backoff grows."""
MAX_PATH: Final = 255
"""The longest WebSocket path taken (it goes in the HTTP request line and in the pins file)."""


class Scheme(StrEnum):
    """How a registry is reached."""

    TCP = "tcp"
    WS = "ws"
    WSS = "wss"


DEFAULT_PORTS: Final = {Scheme.TCP: REGISTRY_PORT, Scheme.WS: 80, Scheme.WSS: 443}

_PATH = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+;=:@]|%[0-9A-Fa-f]{2})*)+")
"""An absolute path by RFC 3986 (``,`` left out: it separates the items of a list)."""
_PERCENT = re.compile(r"%[0-9a-f]{2}")
_SCHEME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/")
"""``ws:/host``: a URL with a slash missing, not a host named ``ws``."""


@dataclass(frozen=True, slots=True)
class RegistryEndpoint:
    """One registry address, always in its one spelling: the host as :func:`validate_host`
    returns it (IPv6 compressed, names lowercase), a port from 1 to 65535, and a path for
    WebSocket (``""`` for TCP). Made by :func:`parse_endpoint`; constructing one directly checks
    the same rules, so two equal endpoints always have the same :attr:`pin_name`."""

    scheme: Scheme
    host: str
    port: int
    path: str = ""

    def __post_init__(self) -> None:
        scheme = Scheme(self.scheme)  # ValueError for anything else
        object.__setattr__(self, "scheme", scheme)
        if validate_host(self.host) != self.host:
            raise ValueError(f"{_shown(self.host)} is not a host in its one spelling")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError("a port must be an integer")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not from 1 to 65535")
        if scheme is Scheme.TCP:
            if self.path:
                raise ValueError(f"tcp:// takes no path, not {_shown(self.path)}")
        elif not self.path or _check_path(self.path, self.path) != self.path:
            raise ValueError(f"{_shown(self.path)} is not a WebSocket path in its one spelling")

    @property
    def websocket(self) -> bool:
        """Reached over WebSocket (``ws://`` or ``wss://``) rather than plain TCP."""
        return self.scheme is not Scheme.TCP

    @property
    def secure(self) -> bool:
        """Over TLS (``wss://``). The chinwag channel inside is secure on every endpoint."""
        return self.scheme is Scheme.WSS

    @property
    def pin_name(self) -> str:
        """What the registry's key is pinned under, and how the endpoint is shown: ``host:port``
        (``[v6]:port``) for TCP, as pins were always kept, and the URL for WebSocket, its port
        left out when it is the scheme's own (``wss://example.org/chinwag``), so
        ``wss://example.org:443/chinwag`` is no second first use. Parsing it gives back this
        endpoint."""
        if self.scheme is Scheme.TCP:
            return registry_address(self.host, self.port)
        return self.url

    @property
    def url(self) -> str:
        """The endpoint as a URL (``tcp://host:port`` for TCP), as a registry advertises it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.scheme is Scheme.TCP:
            return f"tcp://{host}:{self.port}"
        port = "" if self.port == DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def __str__(self) -> str:
        return self.pin_name


def parse_endpoints(text: str) -> tuple[RegistryEndpoint, ...]:
    """``--registry`` as typed: one endpoint or a comma-separated list (spaces around the items
    are ignored), in the order given, which is the order they are tried in at first.

    ValueError says what is wrong: an empty item (``a,,b``, a trailing comma), more than
    :data:`MAX_ENDPOINTS`, or one registry named twice (``host`` and ``host:7420``): refused,
    not merged, since a repeated item is most likely a typo for another registry.
    """
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        raise ValueError("no registry given: give HOST:PORT, or a list like A:7420,B:7420")
    if len(items) > MAX_ENDPOINTS:
        raise ValueError(f"{len(items)} registries listed; at most {MAX_ENDPOINTS} may be")
    seen: dict[RegistryEndpoint, str] = {}
    for number, item in enumerate(items, 1):
        if not item:
            raise ValueError(
                f"item {number} of {_shown(text)} is empty: separate registries by one comma"
            )
        endpoint = parse_endpoint(item)
        if endpoint in seen:
            raise ValueError(
                f"{_shown(seen[endpoint])} and {_shown(item)} are the same registry "
                f"({endpoint.pin_name}): list it once"
            )
        seen[endpoint] = item
    return tuple(seen)


def parse_endpoint(text: str) -> RegistryEndpoint:
    """One registry address as typed (see the module's docstring); ValueError says what is
    wrong with it (``InvalidAddress``, a ValueError too, for a host :func:`validate_host`
    refuses)."""
    item = text.strip()
    if not item:
        raise ValueError("no registry given: give HOST:PORT")
    if any(char.isspace() or not char.isprintable() for char in item):
        raise ValueError(f"{_shown(item)} has a space or a control character in it")
    if "?" in item or "#" in item:
        raise ValueError(f"{_shown(item)}: a registry address takes no query (?) or fragment (#)")
    scheme_text, sep, rest = item.partition("://")
    if sep:
        scheme = _scheme(scheme_text, item)
    else:
        scheme, rest = Scheme.TCP, item
        if "/" in item:
            hint = "" if _SCHEME_LIKE.match(item) or len(item) > 80 else f" (ws://{item})"
            raise ValueError(
                f"{_shown(item)}: only a WebSocket address has a path; start it with ws:// "
                f"or wss://{hint}"
            )
    authority, slash, path = rest.partition("/")
    host, port = _authority(authority, item, DEFAULT_PORTS[scheme])
    if scheme is Scheme.TCP:
        if slash:
            raise ValueError(f"{_shown(item)}: tcp:// takes no path")
        return RegistryEndpoint(scheme, host, port)
    return RegistryEndpoint(scheme, host, port, _check_path(slash + path, item) or WS_PATH)


def _scheme(text: str, item: str) -> Scheme:
    if not text:
        raise ValueError(f"{_shown(item)} has no scheme before ://: give tcp://, ws:// or wss://")
    try:
        return Scheme(text.lower())
    except ValueError:
        raise ValueError(
            f"{_shown(item)}: unknown scheme {_shown(text)}; give tcp://, ws:// or wss:// (a "
            "registry behind a web server is reached with ws:// or wss://, not http://)"
        ) from None


def _authority(text: str, item: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` or ``[v6][:port]`` as the host in its one spelling and a port."""
    if "@" in text:
        raise ValueError(
            f"{_shown(item)}: a registry address takes no user name or password (user@)"
        )
    if text.startswith("["):
        inside, bracket, after = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"{_shown(item)}: the [ before the IPv6 address is never closed")
        if after and not after.startswith(":"):
            raise ValueError(f"{_shown(item)}: after [IPv6] comes :PORT or nothing")
        host, port_text = inside, after[1:] if after else None
        if not host:
            raise ValueError(f"{_shown(item)} has no host")
        host = validate_host(host)
        if ":" not in host:
            raise ValueError(
                f"{_shown(item)}: brackets are for IPv6 addresses only; write {host} without them"
            )
    else:
        if text.count(":") > 1:
            raise ValueError(
                f"{_shown(item)}: put an IPv6 address in brackets, as in [::1]:{REGISTRY_PORT}"
            )
        host, colon, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if colon else None
        if not host:
            raise ValueError(f"{_shown(item)} has no host")
        host = validate_host(host)
    if port_text is None:
        return host, default_port
    return host, _port(port_text, item)


def _port(text: str, item: str) -> int:
    if not text:
        raise ValueError(f"{_shown(item)} has a colon but no port after it")
    # isdigit alone would take "٨٠" (Arabic-Indic digits) and int() "+80" or "8_0"
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not 1 <= int(text) <= 65535:
        raise ValueError(f"{_shown(item)}: port {_shown(text)} is not a number from 1 to 65535")
    return int(text)


def _check_path(path: str, item: str) -> str:
    """A WebSocket path in its one spelling (percent escapes in capitals), or ``""`` for none.

    ``.`` and ``..`` segments are refused rather than resolved: a web server may resolve them
    or not, and the path should mean the same to the user, the pins and the proxy."""
    if not path:
        return ""
    if len(path) > MAX_PATH:
        raise ValueError(f"{_shown(item)}: the path is longer than {MAX_PATH} characters")
    if not _PATH.fullmatch(path):
        raise ValueError(
            f"{_shown(item)}: the path may have letters, digits, -._~!$&'()*+;=:@/ and "
            "%-escapes (%20) only"
        )
    if any(segment in (".", "..") for segment in path.split("/")):
        raise ValueError(f"{_shown(item)}: the path may not have . or .. segments")
    return _PERCENT.sub(lambda found: found.group().upper(), path)


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted and escaped as :func:`repr` does, cut to ``limit`` characters: what the
    user typed cannot forge a log line or repaint a terminal."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


FIRST_RETRY_DELAY: Final = 0.1
"""Seconds before the first try after a loss: a registry that dies sends its clients to the next
one spread over a moment (the caller jitters the wait), not all in the same millisecond."""
RETRY_CAP: Final = 3.0
"""The longest wait before trying an endpoint again, unless a failure asks for another."""


@dataclass(slots=True)
class _Backoff:
    delay: float = 0.0
    """The wait after this endpoint's last failure (0: it has not failed since it worked)."""
    ready_at: float = -math.inf
    """When it may be tried again."""
    failures: int = 0


class FailoverOrder:
    """Which registry to try next, and when: round robin over the endpoints from the one that
    worked last, each with a capped exponential backoff of its own.

    Pure bookkeeping on an injected ``clock`` (``loop.time``; seconds): the caller asks
    :meth:`next`, waits (jittering the wait, as the client does today), tries, and reports
    :meth:`failed` (a connection lost counts as a failure of its endpoint) or :meth:`worked`.

    - A loss moves on to the next endpoint in the list, as the design says: a registry that
      died takes a connect timeout to find out, the next one likely none.
    - Each failure doubles that endpoint's own wait, from :data:`FIRST_RETRY_DELAY` up to
      ``cap`` (or the cap the failure gives: a registry proving another key is retried up to
      once a minute). When every endpoint fails, each does so once a round, so the backoff
      doubles once per whole round. With one endpoint it is the client's single-registry
      backoff exactly (0.1, 0.2, 0.4 … 3 s).
    - An endpoint still waiting is skipped for the next one ready (so one refusing for a minute
      does not hold the others up); when none is ready, the one ready first is tried when it is.
    - No try comes sooner than :data:`FIRST_RETRY_DELAY` after the last failure, so endpoints
      that all fail at once are no busy loop.
    """

    def __init__(
        self,
        endpoints: Sequence[RegistryEndpoint],
        clock: Callable[[], float],
        *,
        first_delay: float = FIRST_RETRY_DELAY,
        cap: float = RETRY_CAP,
    ) -> None:
        if not endpoints:
            raise ValueError("failover needs at least one endpoint")
        if len(set(endpoints)) != len(endpoints):
            raise ValueError("failover endpoints must differ")
        if not first_delay > 0:
            raise ValueError("the first retry delay must be positive")
        self._endpoints = tuple(endpoints)
        self._index = {endpoint: i for i, endpoint in enumerate(self._endpoints)}
        self._backoff = [_Backoff() for _ in self._endpoints]
        self._clock = clock
        self._first = first_delay
        self._cap = max(cap, first_delay)
        self._cursor = 0
        self._quiet_until = -math.inf

    @property
    def endpoints(self) -> tuple[RegistryEndpoint, ...]:
        return self._endpoints

    def next(self) -> tuple[RegistryEndpoint, float]:
        """The endpoint to try next and the seconds to wait before trying it (0: now).

        Asking changes nothing: only :meth:`failed` and :meth:`worked` move the order on."""
        now = self._clock()
        floor = max(now, self._quiet_until)
        best, best_at = self._cursor, math.inf
        count = len(self._endpoints)
        for offset in range(count):
            i = (self._cursor + offset) % count
            at = max(self._backoff[i].ready_at, floor)
            if at < best_at:  # strictly: a tie goes to the earlier in the round
                best, best_at = i, at
        return self._endpoints[best], best_at - now

    def failed(self, endpoint: RegistryEndpoint, *, cap: float | None = None) -> float:
        """Trying ``endpoint`` failed, or its connection was lost: it waits twice as long as
        last time (:data:`FIRST_RETRY_DELAY` the first time, at most ``cap``, else the order's
        cap) and the next in the list comes first. Returns its new wait."""
        i = self._at(endpoint)
        backoff = self._backoff[i]
        limit = self._cap if cap is None else max(cap, self._first)
        backoff.delay = self._first if backoff.delay == 0 else min(backoff.delay * 2, limit)
        backoff.failures += 1
        now = self._clock()
        backoff.ready_at = now + backoff.delay
        self._quiet_until = now + self._first
        self._cursor = (i + 1) % len(self._endpoints)
        return backoff.delay

    def worked(self, endpoint: RegistryEndpoint) -> None:
        """Connected to ``endpoint``: its backoff starts over, and it is the one tried first
        until it fails (the others keep theirs: they may still be down)."""
        i = self._at(endpoint)
        self._backoff[i] = _Backoff()
        self._cursor = i
        self._quiet_until = -math.inf

    def failures(self, endpoint: RegistryEndpoint) -> int:
        """How many times in a row ``endpoint`` failed (0 once it worked): for the logs."""
        return self._backoff[self._at(endpoint)].failures

    def _at(self, endpoint: RegistryEndpoint) -> int:
        try:
            return self._index[endpoint]
        except KeyError:
            raise ValueError(f"{endpoint} is not one of the endpoints tried") from None
