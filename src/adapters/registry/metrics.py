"""The registry's Prometheus metrics (``--metrics HOST:PORT``): a collector that reads
:class:`~chinwag.application.registry.stats.RegistryStats` when scraped, served over HTTP by
prometheus-client from a thread of its own.

Why a custom collector rather than prometheus-client's ``Counter`` objects in the core: the use
cases bump plain attributes (a few nanoseconds, no lock, no dependency of the core on a metrics
library), and the Prometheus objects exist only for the duration of a scrape. The scrape runs
in the HTTP server's thread, never on the event loop; it reads integers (atomic) and copies each
``Counter`` in one step, so a value read mid-pass is off by one at most and never torn.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Protocol, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.presence import PresenceMode

_Key = TypeVar("_Key")

PREFIX = "chinwag_registry_"
POLL_INTERVAL = 0.1
"""Seconds the HTTP server's loop waits between looks at a stop request: the most
:meth:`MetricsServer.close` blocks."""
TRANSPORTS = ("tcp", "ws")
CONNECTION_STATES = ("handshake", "open", "registered", "relay_leg")
"""What a connection is doing: shaking hands, authenticated, registered, or a relay leg."""


class ConnectionCensus(Protocol):
    """What the server tells the collector about its connections right now (the server, not
    the stats, knows them). Called from the scrape thread: return a copy taken in one step
    (``dict(counter)`` of a counter kept up to date as connections change state), never a
    view of a set the event loop is changing."""

    def connection_states(self) -> Mapping[tuple[str, str], int]:
        """Open connections by (transport, state), e.g. ``("tcp", "registered")``."""
        ...


@dataclass(frozen=True, slots=True)
class _Count:
    """A counter with no label: one integer of the stats."""

    name: str
    help: str
    read: Callable[[RegistryStats], int]


@dataclass(frozen=True, slots=True)
class _Tally:
    """A counter with one label: a ``Counter`` of the stats by the label's value. ``known``
    values are always exposed (0 before the first event), so ``rate()`` sees the series start."""

    name: str
    help: str
    label: str
    read: Callable[[RegistryStats], Mapping[str, int]]
    known: tuple[str, ...] = ()


_COUNTERS: tuple[_Count | _Tally, ...] = (
    _Tally(
        "connections_accepted",
        "Connections accepted, by transport.",
        "transport",
        lambda s: s.connections_accepted,
        TRANSPORTS,
    ),
    _Tally(
        "connections_refused",
        "Connections refused past a cap, by reason.",
        "reason",
        lambda s: s.connections_refused,
    ),
    _Count(
        "protocol_violations",
        "Connections closed for breaking the protocol.",
        lambda s: s.protocol_violations,
    ),
    _Tally("errors", "Error frames sent, by code.", "code", lambda s: s.errors),
    _Tally(
        "registrations",
        "Registrations asked for, by result (ok, or the refusal's code).",
        "result",
        lambda s: s.registrations,
        ("ok",),
    ),
    _Tally(
        "lookups",
        "Lookups answered, by result (found, or the refusal's code).",
        "result",
        lambda s: s.lookups,
        ("found",),
    ),
    _Count(
        "who_queries", "Searches of who is online (who with a prefix).", lambda s: s.who_queries
    ),
    _Tally(
        "presence_changes",
        "Presence changes taken in, by source (local: a client here; bus: another registry).",
        "source",
        lambda s: s.presence_changes,
        ("local", "bus"),
    ),
    _Count("presence_pushes", "presence_changed frames sent.", lambda s: s.presence_pushes),
    _Count(
        "presence_coalesced",
        "Presence changes never pushed on their own (undone before their push, or merged).",
        lambda s: s.presence_coalesced,
    ),
    _Count("relay_bytes", "Bytes relayed between relay legs.", lambda s: s.relay_bytes),
    _Tally(
        "relay_refused",
        "Relay sessions refused, by the refusal's code.",
        "reason",
        lambda s: s.relay_refused,
    ),
    _Tally(
        "probes",
        "Reachability probes done, by their reason word (ok, refused, timeout...).",
        "reason",
        lambda s: s.probes,
    ),
    _Count(
        "redis_reconnects",
        "Times the shared store (Redis) came back after being lost.",
        lambda s: s.redis_reconnects,
    ),
    _Tally(
        "bus_messages",
        "Presence bus messages, by direction (in, out).",
        "direction",
        lambda s: s.bus_messages,
        ("in", "out"),
    ),
)

_GAUGES: tuple[_Count, ...] = (
    _Count("registered_clients", "Names registered here.", lambda s: s.registered_clients),
    _Count(
        "legacy_clients",
        "Of the names registered here, those whose version knows no watch lists.",
        lambda s: s.legacy_clients,
    ),
    _Count("watched_names", "Watches (connection, name) held here.", lambda s: s.watched_names),
    _Count("relay_sessions", "Relay sessions open.", lambda s: s.relay_sessions),
    _Count(
        "redis_up",
        "1 while the shared store answers (always 1 without Redis).",
        lambda s: s.redis_up,
    ),
)


def _snapshot(tally: Mapping[_Key, int]) -> dict[_Key, int]:
    """A copy of ``tally`` taken from another thread than the one bumping it. ``dict()`` of a
    dict (a ``Counter`` too) copies in C without letting the event loop's thread run; a
    mapping that iterates in Python code may raise on a key added meanwhile, so try again
    (and let a scrape fail rather than drop a series)."""
    for _ in range(4):
        try:
            return dict(tally)
        except RuntimeError:  # changed size during iteration
            continue
    return dict(tally)


class RegistryCollector(Collector):
    """The registry's metrics, read from ``stats`` (and ``census``, when given) at each
    scrape. Names, labels and help texts: docs/design-registry.md §6."""

    def __init__(self, stats: RegistryStats, census: ConnectionCensus | None = None) -> None:
        self._stats = stats
        self._census = census

    def describe(self) -> list[Metric]:
        """The families this collector yields, so a registry refuses a clashing name at once
        (read from fresh stats: describing must not call the server from the caller's thread)."""
        families = list(RegistryCollector(RegistryStats()).collect())
        if self._census is not None:
            families.append(self._connections(None))
        return families

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        if self._census is not None:
            yield self._connections(self._census)
        for spec in _COUNTERS:
            if isinstance(spec, _Count):
                yield CounterMetricFamily(PREFIX + spec.name, spec.help, value=spec.read(stats))
                continue
            family = CounterMetricFamily(PREFIX + spec.name, spec.help, labels=[spec.label])
            values = dict.fromkeys(spec.known, 0)
            for key, value in _snapshot(spec.read(stats)).items():
                values[str(key)] = value
            for label, value in sorted(values.items()):
                family.add_metric([label], value)
            yield family
        for gauge in _GAUGES:
            yield GaugeMetricFamily(PREFIX + gauge.name, gauge.help, value=gauge.read(stats))
        yield self._mode(stats.presence_mode)

    @staticmethod
    def _mode(current: str) -> GaugeMetricFamily:
        """The presence mode as one series per mode, 1 for the current one (Prometheus has no
        string values; this is its usual shape for an enum)."""
        family = GaugeMetricFamily(
            PREFIX + "presence_mode",
            "Whom presence changes go to: 1 for the current mode (everyone, or watchers only).",
            labels=["mode"],
        )
        modes = [str(mode) for mode in PresenceMode]
        if current not in modes:
            modes.append(current)
        for mode in modes:
            family.add_metric([mode], 1 if mode == current else 0)
        return family

    @staticmethod
    def _connections(census: ConnectionCensus | None) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            PREFIX + "connections",
            "Connections open, by transport and state (handshake, open, registered, relay_leg).",
            labels=["transport", "state"],
        )
        counts: dict[tuple[str, str], int] = {
            (transport, state): 0 for transport in TRANSPORTS for state in CONNECTION_STATES
        }
        states = census.connection_states() if census is not None else {}
        for (transport, state), value in _snapshot(states).items():
            counts[(str(transport), str(state))] = value
        for (transport, state), value in sorted(counts.items()):
            family.add_metric([transport, state], value)
        return family


def metrics_registry(
    stats: RegistryStats, census: ConnectionCensus | None = None
) -> CollectorRegistry:
    """A registry of its own (not prometheus-client's global one, so several registries in one
    process, as in tests, do not clash): the registry's metrics and the process's (RSS, open
    descriptors, CPU)."""
    registry = CollectorRegistry()
    registry.register(RegistryCollector(stats, census))
    ProcessCollector(registry=registry)
    return registry


class _Handler(WSGIRequestHandler):
    """Logs nothing: a scrape every few seconds is not an event worth a log line."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingMixIn, WSGIServer):
    """A thread per scrape, daemon threads (a stuck scraper never holds the process)."""

    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """The HTTP endpoint serving the metrics, in a daemon thread (each scrape in a thread of
    its own), so a scrape never runs on the event loop. :meth:`close` stops it."""

    def __init__(self, httpd: WSGIServer) -> None:
        self._httpd = httpd
        self._closed = False
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(POLL_INTERVAL,), name="chinwag-metrics", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the port the OS chose when asked for port 0)."""
        bound = self._httpd.server_address
        return str(bound[0]), int(bound[1])

    @property
    def serving(self) -> bool:
        """Whether its thread still serves (False once :meth:`close` returned)."""
        return self._thread.is_alive()

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port. Blocks up to :data:`POLL_INTERVAL` (a scrape in
        progress finishes in its own daemon thread). Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout)


def serve_metrics(
    host: str, port: int, stats: RegistryStats, census: ConnectionCensus | None = None
) -> MetricsServer:
    """Serve ``stats`` (and the connection ``census``, the ``RegistryServer`` once it keeps
    one) as Prometheus metrics on ``host:port`` (0: any free port), at any path. Raises
    ``OSError`` when the address cannot be bound.

    prometheus-client's own ``start_http_server`` is this with a thread we could not tell to
    stop promptly (its serve loop polls every 0.5 s); the parts are its public WSGI app and
    the standard library's server."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    app = make_wsgi_app(metrics_registry(stats, census))
    server_class = _Server6 if family == socket.AF_INET6 else _Server
    return MetricsServer(make_server(host, port, app, server_class, _Handler))
