"""The registry's refusals, said once and then summed up (not a line per refused connection), and
its caps, which count what costs: handshakes in progress (the oldest gives way), connections,
identity keys registered per address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chinwag.adapters.registry.limits import OUT, CapLimits, ConnectionCaps, RefusalLog
from chinwag.application.registry.stats import RegistryStats


class Later:
    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, then: Callable[[], None]) -> None:
        self.pending.append((delay, then))

    def run(self) -> None:
        _, then = self.pending.pop(0)
        then()


def test_the_first_refusal_is_said_at_once_and_a_flood_in_one_line_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = Later()
    refusals = RefusalLog(later, every=10.0)
    with caplog.at_level("WARNING"):
        refusals.refused("203.0.113.5", "1000 connections from that address")
        for _ in range(500):
            refusals.refused("203.0.113.5", "1000 connections from that address")
        refusals.refused("198.51.100.7", "10000 connections open")
        assert len(caplog.records) == 1
        assert "refused a connection from 203.0.113.5" in caplog.text
        later.run()  # ten seconds on: one line for the 501 more
        assert len(caplog.records) == 2
        assert "refused 501 more connection(s) in 10 s" in caplog.records[1].getMessage()
        assert "most from 203.0.113.5 (500)" in caplog.records[1].getMessage()
        later.run()  # a quiet window: nothing said, and the next refusal is said at once
        assert len(caplog.records) == 2 and not later.pending
        refusals.refused("198.51.100.7", "10000 connections open")
        assert len(caplog.records) == 3


# -- ConnectionCaps: what costs is counted ----------------------------------------------------


class FakeSlot:
    """A socket as the caps see it; :attr:`evicted` says why it was dropped, if it was."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cap_address: str | None = None
        self.cap_state = OUT
        self.cap_key: bytes | None = None
        self.evicted: str | None = None

    def evict(self, why: str) -> None:
        self.evicted = why

    def __repr__(self) -> str:
        return self.name


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def caps(clock: Clock | None = None, **figures: Any) -> tuple[ConnectionCaps, RegistryStats]:
    """Caps with no grace (every handshake may give way at once) unless ``grace`` is given."""
    figures.setdefault("grace", 0.0)
    stats = RegistryStats()
    limits = ConnectionCaps(CapLimits(**figures), stats, RefusalLog(Later()), clock or Clock())
    return limits, stats


NAT, OTHER = "203.0.113.5", "198.51.100.7"


def test_past_the_handshakes_of_one_address_the_oldest_gives_way() -> None:
    limits, stats = caps(handshakes_per_address=3)
    slots = [FakeSlot(f"s{n}") for n in range(5)]
    for slot in slots:
        assert limits.admit(slot, "tcp", NAT) is None  # never refused: the oldest goes
    assert [s.name for s in slots if s.evicted] == ["s0", "s1"]
    assert limits.handshakes_from(NAT) == 3 and limits.connections == 5
    assert stats.connections_refused == {"handshakes_per_address": 2}
    limits.shaken(slots[2])  # done: no longer a handshake, so nobody gives way for the next
    limits.admit(FakeSlot("s5"), "tcp", NAT)
    assert [s.name for s in slots if s.evicted] == ["s0", "s1"]
    other = FakeSlot("o")
    limits.admit(other, "ws", OTHER)  # another address is not touched
    assert other.evicted is None and stats.connections_accepted == {"tcp": 6, "ws": 1}
    for slot in slots:  # the evicted ones close: released once, then again harmlessly
        limits.release(slot)
        limits.release(slot)
    assert limits.connections == 2 and limits.handshakes == 2


def test_past_the_handshakes_in_all_the_busiest_address_gives_its_oldest() -> None:
    limits, _ = caps(handshakes=4, handshakes_per_address=10)
    busy = [FakeSlot(f"b{n}") for n in range(3)]
    for slot in busy:
        limits.admit(slot, "tcp", NAT)
    quiet = FakeSlot("q")
    limits.admit(quiet, "tcp", OTHER)
    newcomer = FakeSlot("n")
    limits.admit(newcomer, "tcp", OTHER)
    assert [s.name for s in [*busy, quiet, newcomer] if s.evicted] == ["b0"]
    assert limits.handshakes == 4


def test_connections_in_all_and_per_address_are_refused_not_counted() -> None:
    limits, stats = caps(connections=3, per_address=2)
    a, b, c, d = (FakeSlot(n) for n in "abcd")
    assert limits.admit(a, "tcp", NAT) is None and limits.admit(b, "tcp", NAT) is None
    assert limits.admit(c, "tcp", NAT) == "2 connections from that address"
    assert limits.admit(c, "tcp", OTHER) is None
    assert limits.admit(d, "tcp", OTHER) == "3 connections open"
    assert stats.connections_refused == {"per_address": 1, "connections": 1}
    limits.release(a)
    assert limits.admit(d, "tcp", NAT) is None


def test_a_trusted_proxy_s_connection_is_placed_under_its_client_s_address() -> None:
    limits, _ = caps(per_address=1, handshakes_per_address=1)
    first, second, third = FakeSlot("1"), FakeSlot("2"), FakeSlot("3")
    for slot in (first, second, third):  # three upgrades at once through one proxy
        assert limits.admit(slot, "ws", None) is None
    assert not any(s.evicted for s in (first, second, third))  # no per-address figure yet
    assert limits.place(first, NAT) is None
    assert limits.place(second, OTHER) is None
    assert limits.place(third, NAT) == "1 connections from that address"
    assert limits.handshakes_from(NAT) == 1 and limits.handshakes_from(OTHER) == 1
    limits.release(third)
    limits.release(first)
    assert limits.connections == 1 and limits.handshakes == 1


def test_identity_keys_registered_per_address_are_capped() -> None:
    limits, stats = caps(keys_per_address=2)
    slots = [FakeSlot(f"s{n}") for n in range(4)]
    for slot in slots:
        limits.admit(slot, "tcp", NAT)
        limits.shaken(slot)
    for slot, key in zip(slots[:2], (b"k1", b"k2"), strict=True):
        assert limits.may_register(slot, key) is None
        limits.registered(slot, key)
    assert limits.may_register(slots[2], b"k3") is not None
    assert limits.may_register(slots[2], b"k1") is None  # the same key again: no new key
    limits.registered(slots[2], b"k1")
    assert limits.keys_from(NAT) == 2 and stats.connections_refused == {"keys_per_address": 1}
    limits.release(slots[0])
    assert limits.may_register(slots[3], b"k3") is not None  # k1 is still held by s2
    limits.release(slots[2])
    assert limits.may_register(slots[3], b"k3") is None


def test_a_handshake_within_its_grace_does_not_give_way() -> None:
    """Clients behind one NAT reconnecting at once: past the figure for a moment, nobody is
    dropped; once the figure's worth are past their grace, one arrival trims them all."""
    clock = Clock()
    limits, _ = caps(clock, handshakes_per_address=2, grace=1.0)
    burst = [FakeSlot(f"s{n}") for n in range(5)]
    for slot in burst:
        limits.admit(slot, "tcp", NAT)
        clock.now += 0.1
    assert not any(s.evicted for s in burst) and limits.handshakes_from(NAT) == 5
    clock.now = 1.25  # s0..s2 are past their grace, s3 and s4 are not
    limits.admit(FakeSlot("late"), "tcp", NAT)
    assert [s.name for s in burst if s.evicted] == ["s0", "s1", "s2"]
    assert limits.handshakes_from(NAT) == 3  # over the figure until the young ones age
