"""A registry process for the benchmarks: the product's ``RegistryServer``, Noise or pass-through.

Run as a script (``python benchmarks/registry_server.py --security passthrough``) it builds
``RegistryServer(..., security=SECURITY[kind](keys), names=NameBook(path))`` as
``chinwag.entrypoints.registry`` does, on uvloop where installed, and prints the entrypoint's two
lines (``listening on HOST:PORT``, then ``key FINGERPRINT``). Both kinds are started by this one
script, so an encrypted and a pass-through registry differ in nothing but their records. The
other departures from the entrypoint are two limits lifted (still checked, never reached): new
names per address and minute (30, against floods of fresh names), since a load generator
registers a hundred names from 127.0.0.1 at once; and requests per second and connection (2,000,
where a chat client makes a handful a minute), since 100 load clients would otherwise cap the
registry at 200,000 lookups/s, about what it serves.

:class:`RegistryServerProcess` starts it from a benchmark and knows its address. For the scale
test and the presence benchmarks it also takes ``--presence-all-below N``, ``--no-probe``,
``--idle-timeout S``, ``--max-connections N``, ``--ws`` (a WebSocket listener too), ``--redis
URL`` (the Redis stores, built as the container builds them) and ``--tracemalloc``, and answers
on its stdin: a line ``stats`` gets one line ``stats {JSON}`` back (the registry's counters, its
connections, RSS and CPU), ``top N`` the N biggest allocation sites (with ``--tracemalloc``), so
a test can count what the registry itself did, in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.passthrough import SECURITY
from chinwag.adapters.registry.core import Stores, new_registry_id
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.registry.store.redis_bus import RedisPresenceBus
from chinwag.adapters.registry.store.redis_names import RedisNameStore, redis_client
from chinwag.adapters.registry.store.redis_presence import RedisPresenceStore
from chinwag.adapters.registry.store.redis_router import RedisRelayRouter
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.application.registry.sessions import LocalClients
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.identity import fingerprint
from chinwag.entrypoints.common import run_event_loop

_LISTENING = re.compile(r"listening on \[?([^\]\s]+)\]?:(\d+)")


def redis_stores(url: str, idle_timeout: float) -> Stores:
    """The Redis stores of one registry of a network on ``url``, built as the container does
    (``--redis``), one client shared by the adapters."""
    client = redis_client(url)
    clients = LocalClients(new_registry_id())
    stats = RegistryStats()
    return Stores(
        names=RedisNameStore(client),
        presence=RedisPresenceStore(client, clients.registry, idle_timeout),
        bus=RedisPresenceBus(client, clients.registry, stats=stats),
        router=RedisRelayRouter(client, clients, (), stats=stats),
        clients=clients,
        stats=stats,
    )


def rss_kib(pid: int | None = None) -> int:
    """Resident memory of process ``pid`` (this one if None): ``VmRSS`` in /proc, KiB."""
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _stats(server: RegistryServer) -> dict[str, Any]:
    """What the control channel's ``stats`` answers (read on the loop's thread)."""
    stats = server.core.stats
    times = os.times()
    return {
        "connections": server.connection_count,
        "registered": len(server.online()),
        "presence_pushes": stats.presence_pushes,
        "presence_coalesced": stats.presence_coalesced,
        "presence_changes": sum(stats.presence_changes.values()),
        "presence_mode": stats.presence_mode,
        "watched_names": stats.watched_names,
        "lookups": sum(stats.lookups.values()),
        "registrations": dict(stats.registrations),
        "rss_kib": rss_kib(),
        "cpu": times.user + times.system,
    }


def _top(count: int, traceback: bool = False) -> list[str]:
    """The ``count`` biggest allocation sites (``traceback``: the biggest first site with the
    frames that led to it, as deep as ``--tracemalloc N`` traced)."""
    if not tracemalloc.is_tracing():
        return ["tracemalloc is off (--tracemalloc)"]
    snapshot = tracemalloc.take_snapshot()
    if traceback:
        stat = snapshot.statistics("traceback")[0]
        return [str(stat), *stat.traceback.format()]
    return [str(stat) for stat in snapshot.statistics("lineno")[:count]]


def _control(loop: asyncio.AbstractEventLoop, server: RegistryServer) -> None:
    """Answer the commands on stdin (a thread: the loop only computes the answers)."""

    async def on_loop(fn: Any) -> Any:
        return fn()

    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "stats":
            answer: Any = asyncio.run_coroutine_threadsafe(
                on_loop(lambda: _stats(server)), loop
            ).result(30)
        elif command == "top":
            number, _, how = argument.partition(" ")
            answer = _top(int(number or 25), how == "traceback")
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(f"{command} {json.dumps(answer)}", flush=True)


async def _serve(kind: str, names: NameBook, args: argparse.Namespace) -> None:
    keys = LocalKeys.generate()
    options: dict[str, Any] = {}
    if args.presence_all_below is not None:
        options["presence_all_below"] = args.presence_all_below
    if args.max_connections is not None:
        options["max_connections"] = args.max_connections
    if args.idle_timeout is not None:
        options["idle_timeout"] = args.idle_timeout
        options["heartbeat_interval"] = args.idle_timeout / 3
    if args.ws:
        options["ws"] = ("127.0.0.1", 0)
    if args.redis:
        options["stores"] = redis_stores(args.redis, args.idle_timeout or 15.0)
    server = RegistryServer(
        "127.0.0.1",
        0,
        names=names,
        security=SECURITY[kind](keys),
        max_new_names_per_minute=1_000_000,
        max_rate=1e9,
        probe=args.probe,
        **options,
    )
    host, port = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(f"bench-registry ({kind}) listening on {host}:{port}", flush=True)
        if args.ws:
            ws_host, ws_port = server.ws_address
            print(f"bench-registry ws listening on {ws_host}:{ws_port}", flush=True)
        print(f"bench-registry key {fingerprint(keys.identity_key)}", flush=True)
        if args.control:
            threading.Thread(target=_control, args=(loop, server), daemon=True).start()
        await stop.wait()
    finally:
        await server.close()


class RegistryServerProcess:
    """This script as a child process (``kind``: ``noise`` or ``passthrough``)."""

    def __init__(self, kind: str, args: Sequence[str] = ()) -> None:
        """``args``: more of this script's flags (``--presence-all-below 100``...); the control
        channel (:meth:`stats`, :meth:`top`) is always on."""
        if kind not in SECURITY:
            raise ValueError(f"unknown security {kind!r}")
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--security", kind, "--control", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed as soon as it listens
        match = _LISTENING.search(line)
        if match is None:
            self.stop()
            raise SystemExit(f"the benchmark registry did not start: {line!r}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.ws_port: int | None = None
        """The WebSocket port (``--ws``), on :attr:`host`."""
        line = self.process.stdout.readline()  # the ws line, or the key line
        match = _LISTENING.search(line)
        if match is not None and " ws " in line:
            self.ws_port = int(match.group(2))
            self.process.stdout.readline()  # the key line

    @property
    def pid(self) -> int:
        return self.process.pid

    def _ask(self, command: str) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        word = command.split()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the benchmark registry exited")
            if line.startswith(word + " "):
                return json.loads(line[len(word) + 1 :])
        raise TimeoutError(f"no answer to {command!r}")

    def stats(self) -> dict[str, Any]:
        """The registry's counters now (``_stats``), asked over its stdin (blocks: run it in
        an executor from a busy loop)."""
        answer: dict[str, Any] = self._ask("stats")
        return answer

    def top(self, count: int = 25, traceback: bool = False) -> list[str]:
        """The biggest allocation sites (needs ``--tracemalloc``); ``traceback``: the biggest
        one with the frames that led to it."""
        answer: list[str] = self._ask(f"top {count}" + (" traceback" if traceback else ""))
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def __enter__(self) -> RegistryServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--security", choices=sorted(SECURITY), default="noise")
    parser.add_argument("--control", action="store_true", help="answer commands on stdin")
    parser.add_argument("--presence-all-below", type=int, default=None)
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument("--ws", action="store_true", help="listen for WebSocket too")
    parser.add_argument("--redis", default=None, metavar="URL", help="the Redis stores")
    parser.add_argument("--no-probe", dest="probe", action="store_false")
    parser.add_argument(
        "--tracemalloc",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="FRAMES",
        help="trace allocations (top), FRAMES deep",
    )
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc)
    with tempfile.TemporaryDirectory(prefix="chinwag-bench-registry-") as folder:
        names = NameBook(Path(folder) / "registry.sqlite3")
        try:
            with contextlib.suppress(KeyboardInterrupt):
                run_event_loop(_serve(args.security, names, args))
        finally:
            names.close()


if __name__ == "__main__":
    main()
