"""Registry lookup throughput over encrypted sessions, side by side with a pass-through registry.

Usage: ``python benchmarks/bench_registry.py [--clients 100] [--seconds 3] [--rounds 3]``.

Starts a registry as its own process (``benchmarks/registry_server.py``: the product's
``RegistryServer``, so the server and this load generator run on different cores), opens
``--clients`` secure sessions to it (the product's sans-I/O handshake and record layer in an
``asyncio.Protocol``, ``benchmarks/secure_load.py``, so the load generator stays cheap), registers
each, then has each keep 1 lookup in flight, then 32 (pipelined), for ``--seconds`` each.

Every figure is measured against two registries in the same run: one with Noise records (the
product), one whose sessions are the pass-through (``benchmarks/passthrough.py``: the same
handshake and framing, no encryption), with this load generator using the same kind. The kinds
alternate, ``--rounds`` times each; the medians are printed with the ratio encrypted /
pass-through (target at least 0.8), the registry's CPU time per lookup (what encryption costs the
server, and a figure other load on the machine disturbs less than the rate), and how busy each
process was (a registry near 100% set the rate; with 1 in flight neither is, the round trip is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.passthrough import SECURITY
from benchmarks.registry_server import RegistryServerProcess
from benchmarks.secure_load import SecureClient, cpu_seconds
from chinwag.adapters.registry.protocol import PROTOCOL_VERSION
from chinwag.adapters.secure.channel import SecureError, Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.wire.codec import encode
from chinwag.entrypoints.common import run_event_loop

KINDS = ("noise", "passthrough")
WINDOWS = (1, 32)


class LoadClient(SecureClient):
    """One registered session that keeps ``window`` lookups in flight once started."""

    def __init__(self, security: Security, name: str, targets: list[str]) -> None:
        super().__init__(security)
        self.name = name
        self.lookups = [
            encode(json.dumps({"type": "lookup", "rid": i, "user": t}).encode())
            for i, t in enumerate(targets)
        ]
        self.next_lookup = 0
        self.registered = asyncio.get_running_loop().create_future()
        self.running = False
        self.answers = 0
        self.failures: list[bytes] = []

    def session_ready(self) -> None:
        register = {
            "type": "register",
            "version": PROTOCOL_VERSION,
            "user": self.name,
            "port": 9000,
        }
        self.send(encode(json.dumps(register).encode()))

    def more(self, count: int) -> None:
        """Put ``count`` more lookups in flight."""
        self.running = True
        self._send(count)

    def _send(self, count: int) -> None:
        lookups, n, i = self.lookups, len(self.lookups), self.next_lookup
        self.send(b"".join(lookups[(i + k) % n] for k in range(count)))
        self.next_lookup = (i + count) % n

    def frames_received(self, frames: list[bytes]) -> None:
        answered = 0
        for frame in frames:
            if frame.startswith(b'{"type":"found"'):
                answered += 1
            elif frame.startswith(b'{"type":"registered"'):
                self.registered.set_result(None)
            elif frame.startswith(b'{"type":"error"'):
                answered += 1
                if len(self.failures) < 3:
                    self.failures.append(frame)
                if not self.registered.done():
                    self.registered.set_exception(ConnectionError(frame.decode()))
        if answered:
            self.answers += answered
            if self.running:
                self._send(answered)

    def failed(self, exc: BaseException) -> None:
        if not self.registered.done():
            self.registered.set_exception(exc)
        elif self.running and len(self.failures) < 3:
            self.failures.append(repr(exc).encode())


MISTAKEN_FOR_V1 = "unsupported_version"
"""The refusal a registry sends when it takes handshake message 1 for a version-1 request: the
server's ``_Connection._shake`` takes any first frame that starts with ``{`` for one, and message
1 is a random ephemeral key, so once in 256 handshakes it does. Such a connection is retried."""


async def open_client(
    kind: str, host: str, port: int, name: str, targets: list[str]
) -> tuple[LoadClient, int]:
    """A registered load client, and how many attempts were refused as version-1 clients."""
    loop = asyncio.get_running_loop()
    for attempt in range(5):
        client = LoadClient(SECURITY[kind](LocalKeys.generate()), name, targets)
        await loop.create_connection(lambda c=client: c, host, port)  # type: ignore[misc]
        try:
            await asyncio.wait_for(client.registered, timeout=10)
        except SecureError as exc:
            if exc.code != MISTAKEN_FOR_V1:
                raise
            continue
        return client, attempt
    raise SystemExit(f"{name} was refused as a version-1 client 5 times in a row")


Figures = tuple[float, float, float]
"""Lookups/s, the registry's CPU share and the load generator's, over one measurement."""


async def _measure(clients: list[LoadClient], seconds: float, registry_pid: int) -> Figures:
    """Lookups/s over ``seconds`` after a short warm-up, and both processes' CPU meanwhile."""
    await asyncio.sleep(0.5)  # warm up
    before, server_before, ours_before = (
        sum(c.answers for c in clients),
        cpu_seconds(registry_pid),
        time.process_time(),
    )
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    after, server_after, ours_after = (
        sum(c.answers for c in clients),
        cpu_seconds(registry_pid),
        time.process_time(),
    )
    return (
        (after - before) / elapsed,
        (server_after - server_before) / elapsed,
        (ours_after - ours_before) / elapsed,
    )


async def lookup_rates(
    kind: str,
    host: str,
    port: int,
    count: int,
    seconds: float,
    registry_pid: int,
    windows: tuple[int, ...] = WINDOWS,
) -> dict[int, Figures]:
    """``{window: figures}`` for one registry: ``count`` registered clients looking each other
    up with ``window`` requests in flight each (``bench_registry_scale.py`` runs it too)."""
    names = [f"user{i}" for i in range(count)]
    clients: list[LoadClient] = []
    refused = 0
    for i, name in enumerate(names):
        targets = [names[(i + k) % count] for k in range(1, 65)]
        client, retries = await open_client(kind, host, port, name, targets)
        clients.append(client)
        refused += retries
    if refused:
        print(
            f"  ({refused} of {count + refused} handshakes refused as version-1 clients)",
            file=sys.stderr,
        )
    results: dict[int, Figures] = {}
    in_flight = 0
    for window in windows:
        for client in clients:
            client.more(window - in_flight)
        in_flight = window
        results[window] = await _measure(clients, seconds, registry_pid)
    failures = [f for c in clients for f in c.failures]
    for client in clients:
        client.running = False
        client.close()
    if failures:
        raise SystemExit(f"lookups failed, e.g. {failures[0][:300]!r}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0, help="per window and registry")
    parser.add_argument("--rounds", type=int, default=3, help="registries of each kind (median)")
    args = parser.parse_args()
    figures: dict[tuple[str, int], list[Figures]] = {}
    for round_ in range(args.rounds):
        for kind in KINDS if round_ % 2 == 0 else KINDS[::-1]:
            with RegistryServerProcess(kind) as registry:
                results = run_event_loop(
                    lookup_rates(
                        kind,
                        registry.host,
                        registry.port,
                        args.clients,
                        args.seconds,
                        registry.pid,
                    )
                )
            for window, result in results.items():
                figures.setdefault((kind, window), []).append(result)

    def median(kind: str, window: int, index: int) -> float:
        return statistics.median(f[index] for f in figures[kind, window])

    def spread(kind: str, window: int) -> str:
        rates = [f[0] for f in figures[kind, window]]
        return f"{median(kind, window, 0):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"

    for window in WINDOWS:
        noise, plain = (median(kind, window, 0) for kind in KINDS)
        per_lookup = [1e6 * median(kind, window, 1) / median(kind, window, 0) for kind in KINDS]
        print(
            f"registry lookups/s, {args.clients} clients, {window} in flight each "
            f"(median (range) of {args.rounds}): encrypted {spread('noise', window)} | "
            f"pass-through {spread('passthrough', window)} | "
            f"ratio {noise / plain:.2f} (target >= 0.80); registry CPU per lookup "
            f"{per_lookup[0]:.1f} | {per_lookup[1]:.1f} us; CPU busy: registry "
            f"{median('noise', window, 1):.0%} | {median('passthrough', window, 1):.0%}, "
            f"load generator {median('noise', window, 2):.0%} | "
            f"{median('passthrough', window, 2):.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
