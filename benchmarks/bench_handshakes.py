"""New secure connections per second: TCP connect and the whole Noise XX handshake.

Usage: ``python benchmarks/bench_handshakes.py [--seconds 2] [--concurrency 16]``.

Two servers, each its own process on uvloop, against a load generator in this one (the product's
sans-I/O ``Handshake`` and records in an ``asyncio.Protocol``, ``benchmarks/secure_load.py``):

- a registry (``benchmarks/registry_server.py``, the product's ``RegistryServer``): connect, read
  the clear ``welcome``, run the handshake, then one encrypted ``ping``/``pong`` (so the server
  has checked message 3 before the connection counts), then close;
- a peer (the product's ``TcpPeerTransport`` listening, with an application that lets everyone
  in): connect, ``hello`` with message 1, the handshake claiming a name, then the peer's
  encrypted ``welcome``, then close.

Each is measured with one connection at a time (the latency of a connect) and with
``--concurrency`` at once (the rate a server sustains). Each connecting worker has its own keys,
made before the clock starts. The load generator's half of a handshake costs about what the
server's does, so with two cores both processes are busy: the CPU shares printed say which one
set the rate. A handshake is the same with the pass-through (only records differ), so it is
measured with Noise only.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.registry_server import RegistryServerProcess
from benchmarks.secure_load import SecureClient, cpu_seconds
from chinwag.adapters.registry.protocol import MAX_SERVER_FRAME, Ping, dump
from chinwag.adapters.secure.channel import SecureError, Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.adapters.wire.codec import encode
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.peer_transport import GroupHave, Incoming
from chinwag.domain.group import Change
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import run_event_loop

_PING = encode(dump(Ping(rid=1)))


class _Probe(SecureClient):
    """One connection that is done once the server has answered inside the session."""

    def __init__(self, security: Security, peer: tuple[str, str] | None) -> None:
        max_frame = peer_protocol.MAX_FRAME if peer else MAX_SERVER_FRAME
        super().__init__(security, max_frame=max_frame, peer=peer)
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._registry = peer is None

    def session_ready(self) -> None:
        if self._registry:
            self.send(_PING)

    def frames_received(self, frames: list[bytes]) -> None:
        expected = b'{"type":"pong"' if self._registry else b'{"type":"welcome"'
        if not self.answered.done():
            if frames[0].startswith(expected):
                self.answered.set_result(None)
            else:
                self.answered.set_exception(SecureError("refused", frames[0][:200].decode()))
        self.close()

    def failed(self, exc: BaseException) -> None:
        if not self.answered.done():
            self.answered.set_exception(exc)


class _Tally:
    def __init__(self) -> None:
        self.done = 0
        self.mistaken_for_v1 = 0
        self.failures: list[BaseException] = []


async def _connect_once(
    host: str, port: int, security: Security, peer: tuple[str, str] | None, tally: _Tally
) -> None:
    probe = _Probe(security, peer)
    try:
        async with asyncio.timeout(10):
            await asyncio.get_running_loop().create_connection(lambda: probe, host, port)
            await probe.answered
    except SecureError as exc:
        if exc.code == "unsupported_version":
            tally.mistaken_for_v1 += 1
        else:
            tally.failures.append(exc)
    except (OSError, TimeoutError) as exc:
        tally.failures.append(exc)
    else:
        tally.done += 1
    finally:
        probe.close()


async def _handshakes(
    host: str,
    port: int,
    peer: Callable[[int], tuple[str, str]] | None,
    workers: int,
    seconds: float,
    server_pid: int,
) -> tuple[float, float, float, _Tally]:
    """Handshakes/s with ``workers`` connecting at once, the server's and our CPU shares."""
    securities = [Security(LocalKeys.generate()) for _ in range(workers)]
    tally = _Tally()
    stop = False

    async def worker(index: int) -> None:
        while not stop:
            await _connect_once(host, port, securities[index], peer(index) if peer else None, tally)

    tasks = [asyncio.create_task(worker(i)) for i in range(workers)]
    await asyncio.sleep(0.3)  # warm up
    before, server_before, ours_before = tally.done, cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    after, server_after, ours_after = tally.done, cpu_seconds(server_pid), time.process_time()
    stop = True
    await asyncio.gather(*tasks)
    if tally.failures:
        raise SystemExit(f"{len(tally.failures)} handshakes failed, e.g. {tally.failures[0]!r}")
    return (
        (after - before) / elapsed,
        (server_after - server_before) / elapsed,
        (ours_after - ours_before) / elapsed,
        tally,
    )


class _LetEveryoneIn(NoFiles):
    """The application side of a peer that accepts anyone (no trust checks, no storage)."""

    async def authorize(self, peer: str, key: bytes) -> None:
        return None

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Any:
        raise NotImplementedError("this benchmark sends no messages")

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        raise NotImplementedError("this benchmark sends no group frames")

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        raise NotImplementedError("this benchmark sends no group frames")


def _peer(pipe: Connection) -> None:
    """A peer process: bob listening on loopback until told to stop."""

    async def main() -> None:
        transport = TcpPeerTransport(Security(LocalKeys.generate()))
        address = await transport.listen(
            "bob", PeerAddress(host="127.0.0.1", port=0), _LetEveryoneIn()
        )
        assert address is not None
        pipe.send(address.port)
        await asyncio.to_thread(pipe.recv)
        await transport.close()

    run_event_loop(main())


def _report(what: str, workers: int, figures: tuple[float, float, float, _Tally]) -> None:
    rate, server_cpu, our_cpu, tally = figures
    mistaken = (
        f"; {tally.mistaken_for_v1} refused as version-1 clients (not counted)"
        if tally.mistaken_for_v1
        else ""
    )
    print(
        f"{what} handshakes/s (TCP connect + Noise XX + first answer), {workers} at a time: "
        f"{rate:,.0f} ({1000 * workers / rate:.2f} ms each); server CPU per handshake "
        f"{1e6 * server_cpu / rate:,.0f} us; CPU busy: server {server_cpu:.0%}, "
        f"load generator {our_cpu:.0%}{mistaken}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    levels = (1, args.concurrency)
    with RegistryServerProcess("noise") as registry:
        for workers in levels:
            figures = run_event_loop(
                _handshakes(registry.host, registry.port, None, workers, args.seconds, registry.pid)
            )
            _report("registry", workers, figures)
    ours, theirs = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_peer, args=(theirs,))
    process.start()
    try:
        assert ours.poll(30), "the peer did not start"
        port = int(ours.recv())
        assert process.pid is not None
        for workers in levels:
            figures = run_event_loop(
                _handshakes(
                    "127.0.0.1",
                    port,
                    lambda i: (f"alice{i}", "bob"),
                    workers,
                    args.seconds,
                    process.pid,
                )
            )
            _report("peer", workers, figures)
        ours.send("stop")
        process.join(30)
    finally:
        if process.is_alive():
            process.kill()
            process.join(10)


if __name__ == "__main__":
    main()
