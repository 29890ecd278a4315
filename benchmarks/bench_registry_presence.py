"""Presence at scale: what one notification costs the registry per watcher, and memory per
signed-in client over TCP and over WebSocket, each beside plain asyncio in the same run.

Usage: ``python benchmarks/bench_registry_presence.py [--clients 10000] [--toggles 20]
[--parts watchers,ws]``. RLIMIT_NOFILE is raised here (children inherit it).

Every registry is a child process (``benchmarks/registry_server.py``: the product's
``RegistryServer`` with Noise, probes off since the load clients listen nowhere), and the load is
this process: ``--clients`` :class:`~benchmarks.registry_load.WatchingClient` (TCP or WebSocket,
the Noise handshake, ``register`` version 3), each watching ``star`` and the 20 names after it on
a ring. The reference is a plain asyncio server (this script with ``--plain-server``, the same
event loop) holding as many bare connections from the same load.

1. **cost per watcher** (``watchers``): ``star`` (watched by everyone) signs out and in
   ``--toggles`` times, each once every watcher has the last one (under the push rate of 4 a
   second, so nothing is coalesced); the registry's CPU over those toggles (``/proc``), minus its
   CPU over an idle stretch as long (the clients' pings), divided by the ``presence_changed``
   pushes it counted (checked against the frames received). Aim <= 15 us. Reference: the plain
   server writing a record of the same size to every connection as often, the same way measured.
2. **memory per client** over TCP (the registry of part 1, before and after the sign-ins) and over
   WebSocket (``ws``: a registry with ``--ws``, the clients upgraded to ``/chinwag``); aims 20 and
   32 KiB. Reference: the plain server's RSS growth per bare connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.registry_load import PER_SOURCE, Fleet, percentile, ring_watches
from benchmarks.registry_server import RegistryServerProcess, rss_kib
from benchmarks.secure_load import cpu_seconds
from chinwag.entrypoints.common import run_event_loop

STAR = "star"
RECORD = 74
"""Bytes of one ``presence_changed`` naming ``star`` as it leaves the registry (codec header,
Noise record header and tag): what the plain server writes."""
CPU_TICK = 1 / os.sysconf("SC_CLK_TCK")


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} < {needed}: ulimit -Hn")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _watches(count: int) -> dict[str, list[str]]:
    watches: dict[str, list[str]] = {STAR: []} | ring_watches(count - 1, 20)
    for name, watch in watches.items():
        if name != STAR:
            watch.append(STAR)
    return watches


# -- the reference: a plain asyncio server ---------------------------------------------------


class _Bare(asyncio.Protocol):
    def __init__(self, peers: list[asyncio.Transport]) -> None:
        self.peers = peers

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peers.append(transport)  # type: ignore[arg-type]


async def _plain_server() -> None:
    """``--plain-server``: accept, and on ``push N`` (stdin) write N bytes to every
    connection; answer ``stats {rss, cpu, connections}`` to ``stats``."""
    loop = asyncio.get_running_loop()
    peers: list[asyncio.Transport] = []
    server = await loop.create_server(lambda: _Bare(peers), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"plain listening on 127.0.0.1:{port}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode():
        command, _, argument = line.strip().partition(" ")
        if command == "push":
            payload = b"p" * int(argument)
            for peer in peers:
                peer.write(payload)
        times = os.times()
        stats = {"rss_kib": rss_kib(), "cpu": times.user + times.system, "peers": len(peers)}
        print(f"{command} {json.dumps(stats)}", flush=True)


class PlainServer(RegistryServerProcess):
    """The reference server as a child process (its stdin channel as the registry's)."""

    def __init__(self) -> None:
        self.kind = "plain"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--plain-server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.host, self.port = "127.0.0.1", int(line.rsplit(":", 1)[1])
        self.ws_port = None

    def __enter__(self) -> PlainServer:
        return self

    def push(self, size: int) -> dict[str, Any]:
        answer: dict[str, Any] = self._ask(f"push {size}")
        return answer


async def _until(check: Callable[[], Awaitable[bool]], step: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        if await check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout:g} s")
        await asyncio.sleep(step)


class _Counter(asyncio.Protocol):
    def __init__(self, totals: list[int]) -> None:
        self.totals = totals

    def data_received(self, data: bytes) -> None:
        self.totals[0] += len(data)


async def plain_figures(count: int, toggles: int) -> tuple[float, float]:
    """(KiB of RSS per bare connection, CPU us per written record) of the plain server."""
    loop = asyncio.get_running_loop()
    totals = [0]
    transports = []
    with PlainServer() as plain:
        before = await loop.run_in_executor(None, plain.stats)
        for i in range(count):
            source = f"127.0.0.{2 + i % max(1, -(-count // PER_SOURCE))}"
            transport, _ = await loop.create_connection(
                lambda: _Counter(totals), plain.host, plain.port, local_addr=(source, 0)
            )
            transports.append(transport)

        async def connected() -> bool:
            return bool((await loop.run_in_executor(None, plain.stats))["peers"] >= count)

        await _until(connected, 0.1)
        after = await loop.run_in_executor(None, plain.stats)
        cpu_before = after["cpu"]
        for round_ in range(1, toggles + 1):
            await loop.run_in_executor(None, plain.push, RECORD)

            async def arrived(want: int = round_ * count * RECORD) -> bool:
                return totals[0] >= want

            await _until(arrived, 0.005)
        cpu = (await loop.run_in_executor(None, plain.stats))["cpu"] - cpu_before
        for transport in transports:
            transport.close()
    memory = (after["rss_kib"] - before["rss_kib"]) / count
    return memory, 1e6 * cpu / (count * toggles)


# -- the registry ------------------------------------------------------------------------------


async def registry_figures(count: int, toggles: int, ws: bool) -> dict[str, Any]:
    """Memory per client over TCP (or WebSocket), and with ``toggles`` the cost per watcher."""
    loop = asyncio.get_running_loop()
    args = ["--no-probe", "--max-connections", str(count + 100)] + (["--ws"] if ws else [])
    with RegistryServerProcess("noise", args) as registry:
        port = registry.ws_port if ws else registry.port
        assert port is not None, "the registry has no WebSocket listener"
        fleet = Fleet(registry.host, port, ws=ws)
        try:
            watches = _watches(count)
            # STAR first: a first sign-in loads what names are checked against (the
            # confusables, 18 MiB once), which is not a cost per client.
            await fleet.sign_in({STAR: watches.pop(STAR)})
            before = await loop.run_in_executor(None, registry.stats)
            signed, took = await fleet.sign_in(watches, concurrency=48)
            signed += 1
            await fleet.quiet()
            after = await loop.run_in_executor(None, registry.stats)
            figures: dict[str, Any] = {
                "signed": signed,
                "rate": signed / took,
                "errors": fleet.errors[:3],
                "memory": (after["rss_kib"] - before["rss_kib"]) / max(1, signed - 1),
                "mode": after["presence_mode"],
            }
            if toggles:
                figures |= await _toggles(fleet, registry, toggles)
        finally:
            await fleet.close()
    return figures


async def _toggles(fleet: Fleet, registry: RegistryServerProcess, toggles: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = await loop.run_in_executor(None, registry.stats)
    started, cpu_started = time.perf_counter(), cpu_seconds(registry.pid)
    latencies, received, watchers = [], 0, 0
    for turn in range(toggles):
        toggle = await fleet.toggle(STAR, online=turn % 2 == 1, settle=0.05)
        latencies += toggle.heard
        received += toggle.pushes
        watchers += toggle.watchers
    busy, busy_cpu = time.perf_counter() - started, cpu_seconds(registry.pid) - cpu_started
    end = await loop.run_in_executor(None, registry.stats)
    idle_started = cpu_seconds(registry.pid)
    await asyncio.sleep(busy)  # as long idle: the pings' share
    idle = cpu_seconds(registry.pid) - idle_started
    pushes = end["presence_pushes"] - start["presence_pushes"]
    return {
        "pushes": pushes,
        "received": received,
        "watchers": watchers,
        "per_push": 1e6 * max(0.0, busy_cpu - idle) / max(1, pushes),
        "raw_per_push": 1e6 * busy_cpu / max(1, pushes),
        "median": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--toggles", type=int, default=20)
    parser.add_argument("--parts", default="watchers,ws", help="watchers (and TCP memory), ws")
    parser.add_argument("--plain-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_server:
        with contextlib.suppress(KeyboardInterrupt):
            run_event_loop(_plain_server())
        return
    raise_file_limit(args.clients + 1024)
    count, parts = args.clients, set(args.parts.split(","))
    print(f"registry presence ({count:,} v3 clients, own process; {os.cpu_count()} CPUs)")
    plain_memory, plain_write = run_event_loop(plain_figures(count, args.toggles))
    if "watchers" in parts:
        tcp = run_event_loop(registry_figures(count, args.toggles, ws=False))
        verdict = "met" if tcp["per_push"] <= 15 else "MISSED"
        print(
            f"{'per watcher':<14}{tcp['per_push']:>6.1f} us registry CPU per presence_changed "
            f"({tcp['raw_per_push']:.1f} before the idle pings' share), {tcp['pushes']:,} "
            f"pushes for {tcp['watchers']:,} watchers ({tcp['received']:,} received), "
            f"latency median {1e3 * tcp['median']:.0f} / p99 {1e3 * tcp['p99']:.0f} ms | "
            f"plain asyncio write {plain_write:.1f} us   (aim <= 15 us: {verdict})",
            flush=True,
        )
        _memory_line("memory TCP", tcp, count, plain_memory, 20)
    if "ws" in parts:
        try:
            ws = run_event_loop(registry_figures(count, 0, ws=True))
        except (AssertionError, SystemExit) as exc:
            print(f"{'memory WS':<14}  not measured: {exc}")
        else:
            _memory_line("memory WS", ws, count, plain_memory, 32)


def _memory_line(label: str, figures: dict[str, Any], count: int, plain: float, aim: int) -> None:
    each = figures["memory"]
    verdict = "met" if each <= aim and figures["signed"] == count else "MISSED"
    print(
        f"{label:<14}{each:>6.1f} KiB per client, {figures['signed']:,} of {count:,} signed in "
        f"at {figures['rate']:,.0f}/s (mode {figures['mode']}) | plain asyncio "
        f"{plain:.1f} KiB per bare connection   (aim <= {aim} KiB: {verdict})",
        flush=True,
    )
    for error in figures["errors"]:
        print(f"  e.g. {error}")


if __name__ == "__main__":
    main()
