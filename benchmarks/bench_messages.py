"""End-to-end message throughput between two real peers, encrypted and with a pass-through.

Each peer is its own process with the real adapters (TCP transport over Noise, SQLite history,
TCP registry client); a registry runs as a third process. The sender sends N messages as fast as
the use case accepts them; a message counts once the receiver has committed it and the sender has
recorded its acknowledgement (state ``delivered`` committed).

Every figure is measured twice in the same run: with the product's Noise records, and with the
secure channel swapped for a pass-through (``benchmarks/passthrough.py``: the same handshake and
framing, no encryption) in all three processes: both peers by overriding their container's
``adapters.security`` provider, the registry by building it with the pass-through
(``benchmarks/registry_server.py``, which starts the encrypted registry too). The ratio
encrypted / pass-through is what encryption leaves of the rate (the target is at least 0.8).
The two kinds alternate, ``--rounds`` times each; the medians (and the range of the runs) are
printed, with the CPU time both peers spent per message (what encryption costs them, and a figure
that other load on the machine disturbs less than the rate). The run that SIGKILLs the receiver
mid-stream is encrypted only.

Run: ``python benchmarks/bench_messages.py [--messages 20000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.passthrough import use_passthrough
from benchmarks.registry_server import RegistryServerProcess
from benchmarks.secure_load import cpu_seconds
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import run_event_loop
from chinwag.entrypoints.container import Container, close_storage

KINDS = ("noise", "passthrough")


class Counter:
    """An output port that only counts, so the figure measures chinwag, not printing."""

    def __init__(self) -> None:
        self.received = 0
        self.delivered = 0
        self.failed = 0
        self.online: frozenset[str] = frozenset()
        self.changed = asyncio.Event()

    def message_received(self, message: Message) -> None:
        self.received += 1
        self.changed.set()

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        if message.state is MessageState.DELIVERED:
            self.delivered += 1
            self.changed.set()
        elif message.state is MessageState.FAILED:
            self.failed += 1
            self.changed.set()

    def presence_changed(self, online: frozenset[str]) -> None:
        self.online = online
        self.changed.set()

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        pass

    def error(self, code: str, text: str) -> None:
        print(f"error {code}: {text}", file=sys.stderr)

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        print(f"identity of {name} changed", file=sys.stderr)

    def message_request(self, name: str) -> None:
        pass

    def identity_trusted(self, name: str, key: bytes) -> None:
        pass

    async def until(self, condition: object, timeout: float = 120) -> None:
        async with asyncio.timeout(timeout):
            while not condition():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


def make_client(
    folder: Path, registry_port: int, synchronous: str, events: Counter, kind: str = "noise"
) -> Container:
    """A client with the real adapters and its data in ``folder``; ``kind="passthrough"`` swaps
    its secure channel for the pass-through (the registry must be a pass-through one too)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    container = Container(events=events)
    container.config.from_dict(
        {
            "core": {"log_level": "WARNING"},
            "adapters": {
                "database_path": folder / "history.sqlite3",
                "synchronous": synchronous,
                "registry_host": "127.0.0.1",
                "registry_port": registry_port,
                "keys_path": folder / "identity.key",
                "pins_path": folder / "registries.json",
                "registry_key": None,
                "downloads": None,
            },
        }
    )
    if kind == "passthrough":
        use_passthrough(container)
    elif kind != "noise":
        raise ValueError(f"unknown kind {kind!r}")
    return container


def receiver(folder: str, port: int, synchronous: str, kind: str, pipe: Connection) -> None:
    """bob: sign in, say so, and take messages until told to stop."""

    async def main() -> None:
        container = make_client(Path(folder), port, synchronous, Counter(), kind)
        await container.use_cases.sign_in().execute("bob", PeerAddress(host="127.0.0.1", port=0))
        pipe.send("ready")
        await asyncio.to_thread(pipe.recv)
        await container.use_cases.sign_out().execute()
        close_storage(container)

    run_event_loop(main())


class Peer:
    """The receiving process."""

    def __init__(self, folder: str, port: int, synchronous: str, kind: str) -> None:
        self.folder = folder
        self._pipe, theirs = mp.Pipe()
        self.process = mp.get_context("spawn").Process(
            target=receiver, args=(folder, port, synchronous, kind, theirs)
        )
        self.process.start()
        assert self._pipe.poll(30)
        assert self._pipe.recv() == "ready"

    def stop(self) -> None:
        self._pipe.send("stop")
        self.process.join(30)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.join(30)

    def stored_from(self, sender: str) -> int:
        path = Path(self.folder) / "history.sqlite3"
        with closing(sqlite3.connect(path)) as db:
            (count,) = db.execute(
                "SELECT count(DISTINCT id) FROM messages WHERE sender = ?", (sender,)
            ).fetchone()
        return int(count)


async def send_all(
    folder: Path,
    port: int,
    synchronous: str,
    count: int,
    kind: str,
    receiver_pid: int,
    crash: Callable[[], None] | None = None,
) -> Figures:
    """alice: send ``count`` messages; the seconds until all are acknowledged, and the CPU
    seconds both peers used meanwhile. With ``crash``, that is called (in a thread) once a
    quarter have been acknowledged."""
    events = Counter()
    container = make_client(folder, port, synchronous, events, kind)
    use = container.use_cases
    await use.sign_in().execute("alice", PeerAddress(host="127.0.0.1", port=0))
    await events.until(lambda: "bob" in events.online)
    send = use.send_message()
    body = "x" * 100
    started = time.perf_counter()
    cpu_started = time.process_time(), cpu_seconds(receiver_pid)

    async def crash_when_a_quarter_is_delivered() -> None:
        if crash is not None:
            await events.until(lambda: events.delivered >= count // 4)
            await asyncio.to_thread(crash)

    crashing = asyncio.ensure_future(crash_when_a_quarter_is_delivered())
    window = 2048
    for offset in range(0, count, window):
        await asyncio.gather(
            *(send.execute("bob", body) for _ in range(min(window, count - offset)))
        )
    await events.until(lambda: events.delivered + events.failed >= count, timeout=300)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started[0], cpu_seconds(receiver_pid) - cpu_started[1]
    await crashing
    if events.failed:
        print(f"  {events.failed} messages failed", file=sys.stderr)
    await use.sign_out().execute()
    close_storage(container)
    return Figures(elapsed, *cpu)


@dataclass(frozen=True)
class Figures:
    seconds: float
    sender_cpu: float
    receiver_cpu: float


def run(count: int, synchronous: str, kind: str = "noise", crash: bool = False) -> Result:
    """Messages/s from alice (this process) to bob (a child), through a registry (another),
    and the CPU time both peers spent per message."""
    with RegistryServerProcess(kind) as registry, tempfile.TemporaryDirectory() as tmp:
        folder = f"{tmp}/bob"
        bob = Peer(folder, registry.port, synchronous, kind)
        try:

            def kill_and_restart_bob() -> None:
                nonlocal bob
                bob.kill()
                bob = Peer(folder, registry.port, synchronous, kind)

            assert bob.process.pid is not None
            figures = run_event_loop(
                send_all(
                    Path(tmp) / "alice",
                    registry.port,
                    synchronous,
                    count,
                    kind,
                    bob.process.pid,
                    kill_and_restart_bob if crash else None,
                )
            )
            bob.stop()
        finally:
            if bob.process.is_alive():
                bob.kill()
        stored = bob.stored_from("alice")
        assert stored == count, f"the receiver stored {stored} of {count}"
        cpu = figures.sender_cpu + figures.receiver_cpu
        return Result(count / figures.seconds, 1e6 * cpu / count)


@dataclass(frozen=True)
class Result:
    rate: float
    """Messages/s."""
    cpu: float
    """Microseconds of CPU per message, sender and receiver together (a figure that other load
    on the machine disturbs less than the rate)."""


def compare(count: int, synchronous: str, rounds: int) -> dict[str, list[Result]]:
    """Every run of each kind, the kinds alternating so drift hits both alike."""
    results: dict[str, list[Result]] = {kind: [] for kind in KINDS}
    for round_ in range(rounds):
        order = KINDS if round_ % 2 == 0 else KINDS[::-1]
        for kind in order:
            results[kind].append(run(count, synchronous, kind))
    return results


def spread(rates: list[float]) -> str:
    """The median, and the range of the runs so the noise can be seen."""
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each kind (median)")
    args = parser.parse_args()
    for synchronous in ("FULL", "NORMAL"):
        results = compare(args.messages, synchronous, args.rounds)
        rate = {kind: [r.rate for r in runs] for kind, runs in results.items()}
        cpu = {kind: statistics.median(r.cpu for r in runs) for kind, runs in results.items()}
        ratio = statistics.median(rate["noise"]) / statistics.median(rate["passthrough"])
        print(
            f"end-to-end messages/s (sent, stored on both sides, acknowledged; "
            f"synchronous={synchronous}; median (range) of {args.rounds}): "
            f"encrypted {spread(rate['noise'])} | pass-through {spread(rate['passthrough'])} | "
            f"ratio {ratio:.2f} (target >= 0.80); CPU per message, both peers: "
            f"{cpu['noise']:.0f} | {cpu['passthrough']:.0f} us",
            flush=True,
        )
    crashed = run(args.messages, "FULL", "noise", crash=True)
    print(
        "end-to-end messages/s, encrypted, with the receiver SIGKILLed and restarted once "
        f"mid-stream (synchronous=FULL, every message stored once): {crashed.rate:,.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
