"""One registry process holds 10,000 signed-in clients (issue 12's acceptance), measured.

The registry is a process of its own (``benchmarks/registry_server.py``: the product's
``RegistryServer`` with Noise, as the entrypoint builds it, plus a stdin channel that reports its
counters, RSS and CPU), so what is measured is the registry alone. The load is this process:
10,000 :class:`benchmarks.registry_load.WatchingClient` (TCP, the clear welcome, a Noise handshake
with a key each, ``register`` with ``version: 3`` and a watch list), each watching the 20 names
after it on a ring, one in ten watching ``u0`` besides (so ``u0`` has 1,020 watchers, the others
20). Two processes in all, for a machine with two cores.

What it proves, with 10,000 online and the registry in WATCHED mode:

- a presence change (``unregister``, then ``register`` again) of a name reaches every watcher of
  that name, and the registry pushes exactly one ``presence_changed`` per watcher, counted twice:
  the frames every client received, and the registry's own ``presence_pushes``. 20 or 1,020,
  not 10,000: the cost follows the watchers.
- every watcher has it within :data:`PUSH_BOUND` of the request (one clock, this process's);
- lookups keep their latency: 1,000 lookups, one in flight, with 20 online and with 10,000
  online, both reported, the latter bounded by :data:`LOOKUP_P99_BOUND`;
- memory per client: the registry's RSS growth over the 10,000, reported, and bounded by
  :data:`MEMORY_BOUND_KIB`.

The figures are printed in one line (``-s`` not needed).
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import pytest

from benchmarks.registry_load import Fleet, Toggle, percentile, ring_watches
from benchmarks.registry_server import RegistryServerProcess
from chinwag.entrypoints.common import run_event_loop

pytestmark = pytest.mark.slow

CLIENTS = 10_000
WATCHES = 20
POPULAR = "u0"
POPULAR_EVERY = 10
"""One client in this many watches :data:`POPULAR` besides its ring."""
FEW = 20
"""Clients online when the idle registry's lookups are timed."""
LOOKUPS = 1_000

PUSH_BOUND = 2.0
"""Seconds within which every watcher must have a change. Measured: tens of milliseconds for
1,020 watchers (the registry seals 1,020 records, this process opens them). The bound is
generous because both processes share two cores with 10,000 clients' pings (2,500 a second)
going through both and CI machines are noisy; a fan-out to everyone would show in the counts,
not here."""
LOOKUP_P99_BOUND = 0.1
"""Seconds: the 99th percentile of a lookup's round trip with 10,000 online (measured: about a
millisecond; the registry answers a lookup from memory, whatever the crowd)."""
MEMORY_BOUND_KIB = 24.0
"""KiB of registry RSS per signed-in client that fails the test: the design's aim of 20 and a
margin for the allocator's noise (measured 18.4; where it goes: ``bench_registry_presence.py``
and ``registry_server.py --tracemalloc``)."""


def _descriptors(needed: int) -> None:
    """Raise this process's RLIMIT_NOFILE to ``needed`` (the registry, a child, inherits it);
    skip if the hard limit does not allow it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))  # root may
            return
        except (ValueError, OSError):
            pytest.skip(
                f"RLIMIT_NOFILE hard limit {hard} < {needed} descriptors that 10,000 clients "
                "need in one process (raise it: ulimit -Hn)"
            )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _watches() -> dict[str, list[str]]:
    watches = ring_watches(CLIENTS, WATCHES)
    for i in range(5, CLIENTS, POPULAR_EVERY):
        watches[f"u{i}"].append(POPULAR)
    return watches


async def _until(check: Any, what: str, timeout: float = 20.0) -> Any:
    """Poll ``check()`` (in an executor: it may block on the registry's pipe) until truthy."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while True:
        value = await loop.run_in_executor(None, check)
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        await asyncio.sleep(0.25)


def _checked(toggle: Toggle, registry_pushes: int) -> str:
    state = "in" if toggle.online else "out"
    what = f"{toggle.name} signing {state}"
    assert toggle.watchers > 0
    assert len(toggle.heard) == toggle.watchers, f"{what}: watchers that heard it"
    assert toggle.wrong == 0, f"{what}: pushed to clients that do not watch it"
    assert toggle.pushes == toggle.watchers, f"{what}: presence_changed frames received"
    assert registry_pushes == toggle.watchers, f"{what}: the registry's presence_pushes"
    assert toggle.slowest <= PUSH_BOUND, f"{what}: the last watcher heard it after"
    return (
        f"{toggle.name} {state}: {toggle.watchers} watchers, {toggle.pushes} pushes, "
        f"median {1e3 * percentile(toggle.heard, 0.5):.1f} ms, "
        f"last {1e3 * toggle.slowest:.1f} ms"
    )


async def _scenario(registry: RegistryServerProcess) -> list[str]:
    loop = asyncio.get_running_loop()

    def stats() -> dict[str, Any]:
        return registry.stats()

    report: list[str] = []
    fleet = Fleet(registry.host, registry.port)
    try:
        # The idle registry: a few online, their lookups timed; RSS before the crowd.
        few = {f"a{i}": [f"a{(i + 1) % FEW}"] for i in range(FEW)}
        signed, _ = await fleet.sign_in(few, concurrency=4)
        assert signed == FEW, fleet.errors[:3]
        targets = [f"a{i}" for i in range(1, FEW)]
        idle = await fleet.lookups("a0", targets, LOOKUPS)
        before = await loop.run_in_executor(None, stats)

        # 10,000 more, with handshakes; the registry goes WATCHED once 500 are online.
        signed, took = await fleet.sign_in(_watches(), concurrency=48)
        assert signed == CLIENTS, f"signed in {signed}, e.g. {fleet.errors[:3]}"
        await _until(lambda: stats()["presence_mode"] == "watched", "the registry in WATCHED mode")
        await fleet.quiet()
        after = await loop.run_in_executor(None, stats)
        assert after["registered"] == CLIENTS + FEW
        per_client = (after["rss_kib"] - before["rss_kib"]) / CLIENTS
        report.append(
            f"{CLIENTS:,} signed in in {took:.1f} s ({CLIENTS / took:,.0f}/s, "
            f"{fleet.retries} retried); registry RSS {before['rss_kib'] / 1024:.0f} -> "
            f"{after['rss_kib'] / 1024:.0f} MiB: {per_client:.1f} KiB per client"
        )

        # Presence: a name of the ring (20 watchers) and the popular one (1,020).
        for name in (f"u{CLIENTS // 2}", POPULAR):
            for online in (False, True):
                pushes = (await loop.run_in_executor(None, stats))["presence_pushes"]
                toggle = await fleet.toggle(name, online)
                pushed = (await loop.run_in_executor(None, stats))["presence_pushes"] - pushes
                report.append(_checked(toggle, pushed))

        # Lookups with everyone online, of names across the crowd.
        crowd = [f"u{(i * 7919) % CLIENTS}" for i in range(LOOKUPS)]
        busy = await fleet.lookups("a0", crowd, LOOKUPS)
        assert fleet.alive() == CLIENTS + FEW, "clients dropped by the registry"
    finally:
        await fleet.close()
    report.append(
        f"lookups (ms, median/p99): {FEW} online {1e3 * percentile(idle, 0.5):.2f}/"
        f"{1e3 * percentile(idle, 0.99):.2f}, {CLIENTS:,} online "
        f"{1e3 * percentile(busy, 0.5):.2f}/{1e3 * percentile(busy, 0.99):.2f}"
    )
    assert percentile(busy, 0.99) <= LOOKUP_P99_BOUND, report[-1]
    assert per_client <= MEMORY_BOUND_KIB, report[0]
    return report


# Signing 10,000 in with handshakes takes about 15-25 s on two cores, the rest a few seconds:
# the default 60 s is too tight for a slow CI machine.
@pytest.mark.timeout(150)
def test_ten_thousand_watching_clients_on_one_registry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _descriptors(CLIENTS + FEW + 1024)
    with RegistryServerProcess(
        "noise", ["--no-probe", "--max-connections", str(CLIENTS + FEW + 100)]
    ) as registry:
        report = run_event_loop(_scenario(registry))
    with capsys.disabled():
        print("\nregistry at 10,000: " + "; ".join(report))
