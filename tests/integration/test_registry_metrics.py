"""The registry's Prometheus endpoint, scraped over real HTTP: every metric the design names
(docs/design-registry.md §6) is there with its labels, values follow the stats the core bumps,
counters only grow, the scrape runs off the caller's thread, and the server stops cleanly."""

from __future__ import annotations

import socket
import sys
import threading
import urllib.request
from collections.abc import Iterator, Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chinwag.adapters.registry.metrics import MetricsServer, serve_metrics
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.refusals import RefusalCode

pytestmark = pytest.mark.timeout(30)

HOST = "127.0.0.1"
P = "chinwag_registry_"

# The design's list (§6): name -> (type, label names).
DESIGNED: dict[str, tuple[str, tuple[str, ...]]] = {
    "connections": ("gauge", ("transport", "state")),
    "connections_accepted": ("counter", ("transport",)),
    "connections_refused": ("counter", ("reason",)),
    "registrations": ("counter", ("result",)),
    "registered_clients": ("gauge", ()),
    "legacy_clients": ("gauge", ()),
    "lookups": ("counter", ("result",)),
    "who_queries": ("counter", ()),
    "watched_names": ("gauge", ()),
    "presence_changes": ("counter", ("source",)),
    "presence_pushes": ("counter", ()),
    "presence_coalesced": ("counter", ()),
    "presence_mode": ("gauge", ("mode",)),
    "relay_sessions": ("gauge", ()),
    "relay_bytes": ("counter", ()),
    "relay_refused": ("counter", ("reason",)),
    "probes": ("counter", ("reason",)),
    "errors": ("counter", ("code",)),
    "protocol_violations": ("counter", ()),
    "redis_up": ("gauge", ()),
    "redis_reconnects": ("counter", ()),
    "bus_messages": ("counter", ("direction",)),
}


class Census:
    """The server's side: connections by (transport, state), and which thread asked."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], int] = {("tcp", "registered"): 3}
        self.asked_from: set[int] = set()

    def connection_states(self) -> Mapping[tuple[str, str], int]:
        self.asked_from.add(threading.get_ident())
        return dict(self.states)


def busy_stats() -> RegistryStats:
    stats = RegistryStats()
    stats.connections_accepted["tcp"] += 5
    stats.connections_refused["busy"] += 1
    stats.protocol_violations = 2
    stats.errors[RefusalCode.OFFLINE] += 4
    stats.registrations["ok"] += 3
    stats.registrations[RefusalCode.NAME_TAKEN] += 1
    stats.registered_clients = 3
    stats.legacy_clients = 1
    stats.lookups["found"] += 7
    stats.lookups[RefusalCode.UNKNOWN_USER] += 2
    stats.who_queries = 6
    stats.watched_names = 40
    stats.presence_changes["local"] += 9
    stats.presence_pushes = 11
    stats.presence_coalesced = 8
    stats.presence_mode = "watched"
    stats.relay_sessions = 1
    stats.relay_bytes = 123_456
    stats.relay_refused[RefusalCode.RELAY_FULL] += 1
    stats.probes["timeout"] += 2
    stats.redis_up = 0
    stats.redis_reconnects = 1
    stats.bus_messages["out"] += 12
    return stats


@pytest.fixture
def census() -> Census:
    return Census()


@pytest.fixture
def stats() -> RegistryStats:
    return busy_stats()


@pytest.fixture
def server(stats: RegistryStats, census: Census) -> Iterator[MetricsServer]:
    metrics = serve_metrics(HOST, 0, stats, census)
    yield metrics
    metrics.close()


def scrape(server: MetricsServer) -> str:
    host, port = server.address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text: str = answer.read().decode()
        return text


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(P + name, frozenset(labels.items()))]


def test_every_designed_metric_is_served_with_its_type_and_labels(server: MetricsServer) -> None:
    families = {f.name: f for f in text_string_to_metric_families(scrape(server))}
    ours = {name.removeprefix(P) for name in families if name.startswith(P)}
    assert ours == set(DESIGNED)
    for name, (kind, labels) in DESIGNED.items():
        family = families[P + name]
        assert family.type == kind, name
        assert family.documentation, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) == set(labels), (name, sample)
            assert sample.name == P + name + ("_total" if kind == "counter" else "")
    # prometheus-client's process collector rides along (RSS, descriptors, CPU).
    assert {"process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds"} <= set(
        families
    )


def test_values_follow_the_stats(server: MetricsServer, stats: RegistryStats) -> None:
    text = scrape(server)
    assert value(text, "connections_accepted_total", transport="tcp") == 5
    assert value(text, "connections_accepted_total", transport="ws") == 0  # known, not yet seen
    assert value(text, "connections_refused_total", reason="busy") == 1
    assert value(text, "protocol_violations_total") == 2
    assert value(text, "errors_total", code="offline") == 4
    assert value(text, "registrations_total", result="ok") == 3
    assert value(text, "registrations_total", result="name_taken") == 1
    assert value(text, "registered_clients") == 3
    assert value(text, "legacy_clients") == 1
    assert value(text, "lookups_total", result="found") == 7
    assert value(text, "lookups_total", result="unknown_user") == 2
    assert value(text, "who_queries_total") == 6
    assert value(text, "watched_names") == 40
    assert value(text, "presence_changes_total", source="local") == 9
    assert value(text, "presence_changes_total", source="bus") == 0
    assert value(text, "presence_pushes_total") == 11
    assert value(text, "presence_coalesced_total") == 8
    assert value(text, "presence_mode", mode="watched") == 1
    assert value(text, "presence_mode", mode="everyone") == 0
    assert value(text, "relay_sessions") == 1
    assert value(text, "relay_bytes_total") == 123_456
    assert value(text, "relay_refused_total", reason="relay_full") == 1
    assert value(text, "probes_total", reason="timeout") == 2
    assert value(text, "redis_up") == 0
    assert value(text, "redis_reconnects_total") == 1
    assert value(text, "bus_messages_total", direction="out") == 12
    assert value(text, "bus_messages_total", direction="in") == 0
    assert value(text, "connections", transport="tcp", state="registered") == 3
    assert value(text, "connections", transport="ws", state="handshake") == 0

    # Read at scrape time: the next scrape sees what the core bumped since.
    stats.lookups["found"] += 1
    stats.presence_mode = "everyone"
    stats.redis_up = 1
    stats.registered_clients = 2
    text = scrape(server)
    assert value(text, "lookups_total", result="found") == 8
    assert value(text, "presence_mode", mode="everyone") == 1
    assert value(text, "presence_mode", mode="watched") == 0
    assert value(text, "redis_up") == 1
    assert value(text, "registered_clients") == 2


def test_counters_only_grow(server: MetricsServer, stats: RegistryStats) -> None:
    def counters(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            if family.type == "counter" and family.name.startswith(P):
                for s in family.samples:
                    found[(s.name, frozenset(s.labels.items()))] = s.value
        return found

    before = counters(scrape(server))
    stats.relay_bytes += 1_000
    stats.presence_pushes += 3
    stats.connections_accepted["ws"] += 1
    stats.registrations[RefusalCode.RATE_LIMITED] += 1  # a label never seen before
    stats.registered_clients = 0  # a gauge may fall
    after = counters(scrape(server))

    assert set(before) <= set(after)  # no series disappears
    assert all(after[key] >= before[key] for key in before)
    grew = {key for key in before if after[key] > before[key]}
    assert {name for name, _ in grew} == {
        P + "relay_bytes_total",
        P + "presence_pushes_total",
        P + "connections_accepted_total",
    }
    assert (P + "registrations_total", frozenset({("result", "rate_limited")})) in after


def test_a_scrape_reads_from_the_servers_thread_not_the_callers(
    server: MetricsServer, census: Census
) -> None:
    scrape(server)
    assert census.asked_from
    assert threading.get_ident() not in census.asked_from


def test_scrapes_survive_the_core_adding_labels_meanwhile(
    server: MetricsServer, stats: RegistryStats
) -> None:
    """The event loop's thread adds keys to a counter while another thread scrapes it: a copy
    made key by key in Python would now and then raise 'dictionary changed size during
    iteration'. The bumper adds and removes a key (the core only adds, but any change of size
    is what breaks an iteration) and threads switch as often as the interpreter allows."""
    done = threading.Event()

    def bump() -> None:
        while not done.is_set():
            stats.connections_refused["fresh"] += 1
            del stats.connections_refused["fresh"]
            stats.relay_bytes += 1

    for n in range(1000):
        stats.connections_refused[f"reason{n}"] += 1
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    bumper = threading.Thread(target=bump, daemon=True)
    bumper.start()
    try:
        last = 0.0
        for _ in range(15):
            now = value(scrape(server), "relay_bytes_total")
            assert now >= last
            last = now
    finally:
        done.set()
        bumper.join(5)
        sys.setswitchinterval(switching)
    assert not bumper.is_alive()


def test_the_server_stops_and_frees_its_port(stats: RegistryStats) -> None:
    metrics = serve_metrics(HOST, 0, stats)
    host, port = metrics.address
    assert host == HOST
    assert port > 0
    # Without a census (before the server keeps one) the connections gauge is simply absent.
    families = {f.name for f in text_string_to_metric_families(scrape(metrics))}
    assert P + "connections" not in families
    assert P + "lookups" in families

    assert metrics.serving
    metrics.close()
    assert not metrics.serving
    metrics.close()  # twice is harmless
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, port), timeout=5):
        pass


def test_an_address_in_use_is_an_error_at_start(server: MetricsServer) -> None:
    host, port = server.address
    with pytest.raises(OSError, match="in use"):
        serve_metrics(host, port, RegistryStats())


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_address_is_served(stats: RegistryStats) -> None:
    metrics = serve_metrics("::1", 0, stats)
    try:
        host, port = metrics.address
        assert host == "::1"
        with urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert value(text, "lookups_total", result="found") == 7
    finally:
        metrics.close()
