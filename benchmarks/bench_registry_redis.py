"""Two registries on one Redis beside one alone: lookups/s, and how long a presence change takes
from one registry to a watcher on the other, beside Redis pub/sub's own round trip.

Usage: ``python benchmarks/bench_registry_redis.py [--clients 200] [--depth 8] [--seconds 3]
[--changes 200]``. Needs ``redis-server`` (Debian's package); ``make bench`` runs it.

A ``redis-server`` is started for the run (``tests/services.RedisServer``: AOF, everysec). Each
registry is a child process (``benchmarks/registry_server.py --redis URL``: the product's
``RegistryServer`` over ``RedisNameStore``, ``RedisPresenceStore``, ``RedisPresenceBus`` and
``RedisRelayRouter``, as ``--redis`` builds them) and the load is this process
(``benchmarks/registry_load.py``: version 3 clients, Noise handshakes).

1. **lookups/s**: ``--clients`` signed-in clients keep ``--depth`` lookups each in flight, of
   names spread over the whole network, for ``--seconds``: on one registry alone, then split
   over two (half on each; a name on the other registry costs a Redis round trip). The figure
   two registries should beat is the one alone (two cores: the load generator shares them).
2. **cross-registry presence**: ``--changes`` times, a client on registry A signs out or in, and
   the one client on registry B watching it is pushed the change: the delay from the request to
   the push (median, p99; one clock, this process's; aim median <= 5 ms, p99 <= 25 ms).
   Reference: a Redis PUBLISH from this process to a subscriber process that PUBLISHes it back
   (one pub/sub round trip between two processes, median and p99).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis

from benchmarks.registry_load import Fleet, lookup_rate, percentile
from benchmarks.registry_server import RegistryServerProcess
from chinwag.entrypoints.common import run_event_loop
from tests.services import RedisServer

REDIS_ARGS = ["--no-probe", "--presence-all-below", "1"]
"""Registries on Redis, in WATCHED mode from the first client (pushes go to watchers only)."""


# -- the reference: a pub/sub round trip ---------------------------------------------------------


async def _echo(url: str) -> None:
    """``--echo URL``: PUBLISH back on ``pong`` whatever comes on ``ping``."""
    redis = Redis.from_url(url)
    pubsub = redis.pubsub()
    await pubsub.subscribe("ping")
    print("echo ready", flush=True)
    async for message in pubsub.listen():
        if message["type"] == "message":
            await redis.publish("pong", message["data"])


def pubsub_reference(url: str, count: int) -> list[float]:
    """``count`` round trips through the echo process (a child, stopped at the end)."""
    echo = subprocess.Popen(
        [sys.executable, __file__, "--echo", url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert echo.stdout is not None and echo.stdout.readline().startswith("echo ready")
        return run_event_loop(pubsub_round_trips(url, count))
    finally:
        echo.terminate()
        echo.wait(10)


async def pubsub_round_trips(url: str, count: int) -> list[float]:
    redis = Redis.from_url(url)
    pubsub = redis.pubsub()
    await pubsub.subscribe("pong")
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    took = []
    for i in range(count):
        started = time.perf_counter()
        await redis.publish("ping", str(i))
        while True:
            message = await pubsub.get_message(timeout=5)
            if message is not None and message["type"] == "message":
                break
        took.append(time.perf_counter() - started)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()
    return took


# -- the registries ------------------------------------------------------------------------------


async def lookups(
    prefix: str, registries: list[RegistryServerProcess], clients: int, depth: int, seconds: float
) -> float:
    """Lookups/s with ``clients`` (names ``{prefix}{i}``) split over ``registries``, each
    looking up names of all."""
    fleet = Fleet(registries[0].host, registries[0].port)
    try:
        names = [f"{prefix}{i}" for i in range(clients)]
        for r, registry in enumerate(registries):
            mine: dict[str, list[str]] = {name: [] for name in names[r :: len(registries)]}
            signed, _ = await fleet.sign_in(mine, concurrency=16, port=registry.port)
            assert signed == len(mine), fleet.errors[:3]
        askers = list(fleet.clients.values())
        return await lookup_rate(askers, names, depth, seconds)
    finally:
        await fleet.close()


async def cross_latency(
    a: RegistryServerProcess, b: RegistryServerProcess, changes: int
) -> list[float]:
    """Seconds from a change on ``a`` to its push to the watcher on ``b``, ``changes`` times."""
    fleet = Fleet(a.host, a.port)
    try:
        count = max(1, changes // 2)
        watched = [f"c{i}" for i in range(count)]
        await fleet.sign_in({name: [] for name in watched}, concurrency=16, port=a.port)
        await fleet.sign_in(
            {f"w{i}": [name] for i, name in enumerate(watched)}, concurrency=16, port=b.port
        )
        assert len(fleet.clients) == 2 * count, fleet.errors[:3]
        await fleet.quiet(0.3)
        took = []
        for turn in range(changes):
            toggle = await fleet.toggle(
                watched[turn % count], online=(turn // count) % 2 == 1, settle=0.0
            )
            assert len(toggle.heard) == 1 and toggle.wrong == 0, toggle
            took += toggle.heard
        return took
    finally:
        await fleet.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--echo", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        with contextlib.suppress(KeyboardInterrupt):
            run_event_loop(_echo(args.echo))
        return
    print("registries on Redis (RegistryServer with Noise over the Redis stores, own processes)")
    with RedisServer() as redis:
        url = f"redis://{redis.host}:{redis.port}/0"
        with RegistryServerProcess("noise", [*REDIS_ARGS, "--redis", url]) as alone:
            one = run_event_loop(lookups("one", [alone], args.clients, args.depth, args.seconds))
        with (
            RegistryServerProcess("noise", [*REDIS_ARGS, "--redis", url]) as a,
            RegistryServerProcess("noise", [*REDIS_ARGS, "--redis", url]) as b,
        ):
            two = run_event_loop(lookups("two", [a, b], args.clients, args.depth, args.seconds))
            took = run_event_loop(cross_latency(a, b, args.changes))
        reference = pubsub_reference(url, args.changes)
    print(
        f"{'lookups/s':<16}one registry {one:>9,.0f} | two registries {two:>9,.0f} "
        f"({two / one:.2f}x; {args.clients} clients x {args.depth} in flight, names on both)",
        flush=True,
    )
    median, p99 = percentile(took, 0.5), percentile(took, 0.99)
    verdict = "met" if median <= 0.005 and p99 <= 0.025 else "MISSED"
    print(
        f"{'cross presence':<16}median {1e3 * median:.2f} ms, p99 {1e3 * p99:.2f} ms from a "
        f"change on A to the push on B ({len(took)} changes) | redis pub/sub round trip "
        f"between two processes: median {1e3 * percentile(reference, 0.5):.2f} ms, p99 "
        f"{1e3 * percentile(reference, 0.99):.2f} ms   (aim median <= 5, p99 <= 25 ms: "
        f"{verdict})",
        flush=True,
    )


if __name__ == "__main__":
    main()
