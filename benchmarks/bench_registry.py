"""Registry lookup throughput, measured against a real registry process.

Usage: ``python benchmarks/bench_registry.py [--clients 100] [--seconds 3] [--window 32]``.

Starts ``python -m chinwag.entrypoints.registry --port 0`` as its own process (so the server and
this load generator run on different cores), registers ``--clients`` connections, then has each
keep ``--window`` lookups in flight (pipelined, framed with the codec directly) for ``--seconds``
and prints ``registry lookups/s with N clients: X``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time

from chinwag.adapters.wire.codec import FrameDecoder, encode

_LISTENING = re.compile(rb"listening on \[?([^\]\s]+)\]?:(\d+)")


class _LoadClient(asyncio.Protocol):
    """One registered connection that keeps ``window`` lookups in flight once started."""

    def __init__(self, name: str, targets: list[str], window: int) -> None:
        self.name = name
        self.window = window
        self.lookups = [
            encode(json.dumps({"type": "lookup", "rid": i, "user": t}).encode())
            for i, t in enumerate(targets)
        ]
        self.next_lookup = 0
        self.decoder = FrameDecoder(4 * 1024 * 1024)
        self.registered = asyncio.get_running_loop().create_future()
        self.running = False
        self.answers = 0
        self.failures = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        register = {
            "type": "register",
            "version": 1,
            "user": self.name,
            "port": 9000,
            "session": self.name,
        }
        transport.write(encode(json.dumps(register).encode()))

    def start(self) -> None:
        self.running = True
        self._send(self.window)

    def _send(self, count: int) -> None:
        assert self.transport is not None
        lookups, n, i = self.lookups, len(self.lookups), self.next_lookup
        self.transport.write(b"".join(lookups[(i + k) % n] for k in range(count)))
        self.next_lookup = (i + count) % n

    def data_received(self, data: bytes) -> None:
        answered = 0
        for frame in self.decoder.feed(data):
            if frame.startswith(b'{"type":"found"'):
                answered += 1
            elif frame.startswith(b'{"type":"registered"'):
                self.registered.set_result(None)
            elif frame.startswith(b'{"type":"error"'):
                answered += 1
                self.failures += 1
        if answered:
            self.answers += answered
            if self.running:
                self._send(answered)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.registered.done():
            self.registered.set_exception(ConnectionError("registry closed the connection"))


async def _connect(protocol: _LoadClient, host: str, port: int) -> None:
    await asyncio.get_running_loop().create_connection(lambda: protocol, host, port)


async def _run(host: str, port: int, clients: int, seconds: float, window: int) -> float:
    names = [f"user{i}" for i in range(clients)]
    protocols: list[_LoadClient] = []
    for i, name in enumerate(names):
        protocol = _LoadClient(name, [names[(i + k) % clients] for k in range(1, 65)], window)
        await _connect(protocol, host, port)
        protocols.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(p.registered for p in protocols)), timeout=30)
    for protocol in protocols:
        protocol.start()
    await asyncio.sleep(0.5)  # warm up
    before, started = sum(p.answers for p in protocols), time.perf_counter()
    await asyncio.sleep(seconds)
    after, elapsed = sum(p.answers for p in protocols), time.perf_counter() - started
    failures = sum(p.failures for p in protocols)
    for protocol in protocols:
        protocol.running = False
        assert protocol.transport is not None
        protocol.transport.close()
    if failures:
        raise SystemExit(f"{failures} lookups failed")
    return (after - before) / elapsed


def _start_registry() -> tuple[subprocess.Popen[bytes], str, int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chinwag.entrypoints.registry",
            "--port",
            "0",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the registry prints it as soon as it listens
    match = _LISTENING.search(line)
    if match is None:
        process.kill()
        raise SystemExit(f"the registry did not start: {line!r}")
    return process, match.group(1).decode(), int(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=32, help="lookups in flight per client")
    args = parser.parse_args()
    process, host, port = _start_registry()
    try:
        rate = asyncio.run(_run(host, port, args.clients, args.seconds, args.window))
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    print(f"registry lookups/s with {args.clients} clients: {rate:.0f}")


if __name__ == "__main__":
    main()
