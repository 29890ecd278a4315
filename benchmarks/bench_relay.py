"""The registry's relay next to a direct connection: rate, registry CPU, latency, first contact.

The set-up of ``benchmarks/bench_messages.py``: each peer has the real adapters (TCP transport
over Noise, SQLite history with ``synchronous=FULL``, TCP registry client), the receiver (bob) is
a child process, the sender (alice) is this one, and the registry is a third process. The only
difference between the two modes is where the peers listen: **direct**, both on a port of their
own as usual; **relayed**, both with no listen address at all (``--listen none``), so their
sessions can only go through the registry's relay. The registry is the product's
``RegistryServer`` with its default limits (relay rate 8 MiB/s a client among them), its
``RelayHub`` subclassed only to count the bytes it carries. The modes alternate, ``--rounds``
times each, with a fresh registry and receiver every time; each run measures:

1. **rate**: ``--messages`` sends as fast as the use case takes them, over a session already up,
   until every one is ``delivered`` (committed by bob, its acknowledgement recorded by alice);
2. **registry CPU per relayed MB**: the registry process's CPU time during (1) over the bytes
   its relay carried meanwhile (both ways: messages and acknowledgements, as the peers' own
   end-to-end records);
3. **latency**: ``--latency`` messages one at a time, each from ``send`` to ``delivered`` at the
   sender (a round trip with a commit at each end);
4. **first message**: ``--tries`` fresh senders that have never talked to bob each sign in and send
   him one message; the time from ``send`` until bob committed it (and until ``delivered`` at the
   sender). Relayed, that includes the lookup, the relay request, both ends' new connections to
   the registry and the peers' own handshake inside the relay.

Medians over the runs (and their range) are printed with the aims of issue 9 next to them.

Run: ``python benchmarks/bench_relay.py [--messages 20000] [--rounds 5] [--latency 300]
[--tries 5]`` (about 40 s on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_messages import Counter, make_client, spread
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.relay import RelayHub
from chinwag.adapters.registry.relay_session import RelaySession, RelaySettings
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.session import Security
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import run_event_loop
from chinwag.entrypoints.container import close_storage

MODES = ("direct", "relayed")
SYNCHRONOUS = "FULL"
BODY = "x" * 100


def listen_address(mode: str) -> PeerAddress | None:
    """Where a peer listens: an ephemeral port, or nowhere (reached through the relay only)."""
    return PeerAddress(host="127.0.0.1", port=0) if mode == "direct" else None


class Timings(Counter):
    """The benchmarks' counting output port, also noting when each message was delivered (at
    the sender) or committed (at the receiver), and by which route it was delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered_at: dict[str, float] = {}
        self.received_at: dict[str, float] = {}
        self.routes: dict[Route | None, int] = {}

    def message_received(self, message: Message) -> None:
        self.received_at[str(message.id)] = time.perf_counter()
        super().message_received(message)

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        if message.state is MessageState.DELIVERED:
            self.delivered_at[str(message.id)] = time.perf_counter()
            self.routes[route] = self.routes.get(route, 0) + 1
        super().message_state_changed(message)

    async def delivered_when(self, message: Message) -> float:
        """When ``message`` was delivered (``time.perf_counter``, the same clock in every
        process on Linux)."""
        key = str(message.id)
        await self.until(lambda: key in self.delivered_at, timeout=60)
        return self.delivered_at[key]


# -- child processes -----------------------------------------------------------------------


class CountingHub(RelayHub):
    """The product's relay, counting the bytes it carries from each end (0: the end that asked
    for the session, 1: the other), as they arrive to be forwarded."""

    def __init__(self, settings: RelaySettings | None = None) -> None:
        super().__init__(settings)
        self.relayed = [0, 0]

    def forward(self, session: RelaySession, side: int, data: bytes) -> bytes:
        self.relayed[side] += len(data)
        return data


def registry_child(pipe: Connection) -> None:
    """A registry with the product's defaults (and a counting relay): send its port, then
    answer every request with the bytes relayed so far from each end and the CPU seconds the
    process has used (every thread; ``time.process_time`` is finer than /proc's clock ticks),
    until ``stop``."""

    async def main(folder: str) -> None:
        names = NameBook(Path(folder) / "registry.sqlite3")
        server = RegistryServer(
            "127.0.0.1",
            0,
            names=names,
            security=Security(LocalKeys.generate()),
            relay_hub=CountingHub,
            max_new_names_per_minute=1_000_000,  # every first-message try is a new name
        )
        hub = server.relay_hub
        assert isinstance(hub, CountingHub)
        _, port = await server.start()
        pipe.send(port)
        while await asyncio.to_thread(pipe.recv) != "stop":
            pipe.send((*hub.relayed, time.process_time()))
        await server.close()
        names.close()

    with tempfile.TemporaryDirectory(prefix="chinwag-bench-relay-") as folder:
        run_event_loop(main(folder))


def receiver_child(folder: str, registry_port: int, mode: str, pipe: Connection) -> None:
    """bob: sign in (listening or not), say so, then answer lists of message ids with when
    each was committed here (None: not yet), until ``stop``."""

    async def main() -> None:
        events = Timings()
        container = make_client(Path(folder), registry_port, SYNCHRONOUS, events)
        await container.use_cases.sign_in().execute("bob", listen_address(mode))
        pipe.send("ready")
        while (ids := await asyncio.to_thread(pipe.recv)) != "stop":
            pipe.send([events.received_at.get(key) for key in ids])
        await container.use_cases.sign_out().execute()
        close_storage(container)

    run_event_loop(main())


class Child:
    """A spawned process that talks over a pipe: its first word is :attr:`hello`; :meth:`ask`
    sends a request and waits for the answer."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        self._pipe, theirs = mp.Pipe()
        self.process = mp.get_context("spawn").Process(target=target, args=(*args, theirs))
        self.process.start()
        if not self._pipe.poll(60):
            self.process.kill()
            raise SystemExit(f"{target.__name__} did not start within 60 s")
        self.hello = self._pipe.recv()

    def ask(self, request: object) -> Any:
        self._pipe.send(request)
        return self._pipe.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            self._pipe.send("stop")
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(30)


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCounters:
    """The registry's counters (bytes relayed each way, its CPU time), or what they grew by."""

    forth: int
    """Bytes relayed from the end that asked for the session (alice: messages)."""
    back: int
    """Bytes relayed from the other end (bob: acknowledgements)."""
    cpu: float
    """CPU seconds."""

    @classmethod
    async def read(cls, registry: Child) -> RegistryCounters:
        return cls(*await asyncio.to_thread(registry.ask, "counters"))

    def __sub__(self, other: RegistryCounters) -> RegistryCounters:
        return RegistryCounters(
            self.forth - other.forth, self.back - other.back, self.cpu - other.cpu
        )

    @property
    def ms_per_mb(self) -> float:
        """The registry's CPU milliseconds per relayed megabyte (10^6 bytes)."""
        return 1e9 * self.cpu / (self.forth + self.back)


@dataclass
class Run:
    """What one run of one mode measured."""

    rate: float = 0.0
    """Messages/s, sent until delivered."""
    bulk: RegistryCounters = field(default_factory=lambda: RegistryCounters(0, 0, 0.0))
    """What the registry did meanwhile."""
    latency: list[float] = field(default_factory=list)
    """Seconds from send to delivered, one message at a time."""
    one_way: list[float] = field(default_factory=list)
    """Seconds from send to committed by the receiver, the same messages."""
    chat: RegistryCounters = field(default_factory=lambda: RegistryCounters(0, 0, 0.0))
    """What the registry did for them."""
    first_committed: list[float] = field(default_factory=list)
    """Seconds from a fresh sender's first send until the receiver committed it."""
    first_delivered: list[float] = field(default_factory=list)
    """... until it was delivered at that sender."""


async def sender(mode: str, folder: Path, registry: Child, bob: Child, args: Any) -> Run:
    """alice (this process): the rate, the registry's share and the latency on one session;
    then ``args.tries`` fresh senders' first message."""
    run = Run()
    events = Timings()
    container = make_client(folder / "alice", registry.hello, SYNCHRONOUS, events)
    use = container.use_cases
    await use.sign_in().execute("alice", listen_address(mode))
    await events.until(lambda: "bob" in events.online)
    send = use.send_message()
    await events.delivered_when(await send.execute("bob", BODY))  # the session is up
    sent: dict[str, float] = {}
    before = await RegistryCounters.read(registry)
    for _ in range(args.latency):
        started = time.perf_counter()
        message = await send.execute("bob", BODY)
        run.latency.append(await events.delivered_when(message) - started)
        sent[str(message.id)] = started
    run.chat = await RegistryCounters.read(registry) - before
    committed = await asyncio.to_thread(bob.ask, list(sent))  # perf_counter: one clock for all
    if None in committed:
        raise SystemExit(f"{mode}: delivered, yet the receiver has no record of committing it")
    run.one_way = [at - started for at, started in zip(committed, sent.values(), strict=True)]
    before = await RegistryCounters.read(registry)
    done = events.delivered + events.failed + args.messages
    started = time.perf_counter()
    window = 2048
    for offset in range(0, args.messages, window):
        count = min(window, args.messages - offset)
        await asyncio.gather(*(send.execute("bob", BODY) for _ in range(count)))
    await events.until(lambda: events.delivered + events.failed >= done, timeout=300)
    run.rate = args.messages / (time.perf_counter() - started)
    run.bulk = await RegistryCounters.read(registry) - before
    expected = Route.DIRECT if mode == "direct" else Route.RELAYED
    if events.failed or set(events.routes) != {expected}:
        raise SystemExit(f"{mode}: {events.failed} failed; delivered by {events.routes}")
    await use.sign_out().execute()
    close_storage(container)
    for index in range(args.tries):
        committed, delivered = await first_message(mode, folder / f"new{index}", registry, bob)
        run.first_committed.append(committed)
        run.first_delivered.append(delivered)
    return run


async def first_message(
    mode: str, folder: Path, registry: Child, bob: Child
) -> tuple[float, float]:
    """A sender that never talked to bob signs in and sends him one message: the seconds until
    bob committed it, and until it was delivered here."""
    events = Timings()
    container = make_client(folder, registry.hello, SYNCHRONOUS, events)
    use = container.use_cases
    await use.sign_in().execute(folder.name, listen_address(mode))
    started = time.perf_counter()
    message = await use.send_message().execute("bob", BODY)
    delivered = await events.delivered_when(message)
    (committed,) = await asyncio.to_thread(bob.ask, [str(message.id)])
    if committed is None:
        raise SystemExit(f"{mode}: delivered, yet the receiver has no record of committing it")
    if events.routes != {Route.DIRECT if mode == "direct" else Route.RELAYED: 1}:
        raise SystemExit(f"{mode}: the first message went by {events.routes}")
    await use.sign_out().execute()
    close_storage(container)
    return committed - started, delivered - started


def run_mode(mode: str, args: Any) -> Run:
    """One run: a fresh registry and bob, alice measuring."""
    registry = Child(registry_child)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bob = Child(receiver_child, f"{tmp}/bob", registry.hello, mode)
            try:
                return run_event_loop(sender(mode, Path(tmp), registry, bob, args))
            finally:
                bob.stop()
    finally:
        registry.stop()


# -- figures -------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.5: the median), interpolated."""
    ordered = sorted(samples)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(samples: list[float]) -> str:
    """p50 / p90 in milliseconds."""
    p50, p90 = (1000 * percentile(samples, fraction) for fraction in (0.5, 0.9))
    return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms"


def report(runs: dict[str, list[Run]], args: Any) -> None:
    rounds = len(runs["direct"])
    rate = {mode: [r.rate for r in done] for mode, done in runs.items()}
    ratio = statistics.median(rate["relayed"]) / statistics.median(rate["direct"])
    print(
        f"relay: end-to-end messages/s ({args.messages:,} sent until delivered, "
        f"synchronous={SYNCHRONOUS}; median (range) of {rounds}): direct {spread(rate['direct'])} "
        f"| relayed {spread(rate['relayed'])} | ratio {ratio:.2f} (aim >= 0.70)",
        flush=True,
    )
    bulk = [r.bulk for r in runs["relayed"]]
    chat = [r.chat for r in runs["relayed"]]
    forth, back = (statistics.median(getattr(r, side) for r in bulk) for side in ("forth", "back"))
    direct_cpu = 1000 * statistics.median(r.bulk.cpu for r in runs["direct"])
    direct_chat = [1e6 * r.chat.cpu / args.latency for r in runs["direct"]]
    print(
        f"relay: registry CPU per relayed MB (both ways; median (range) of {rounds}): "
        f"{spread_of([r.ms_per_mb for r in bulk], '.1f')} ms for the rate's sends (a run relayed "
        f"{(forth + back) / 1e6:.1f} MB, {forth / args.messages:.0f} bytes a message from the "
        f"sender and {back / args.messages:.0f} back; the registry's CPU over the same sends "
        f"direct: {direct_cpu:.1f} ms) | {spread_of([r.ms_per_mb for r in chat], '.0f')} ms one "
        f"message at a time: {spread_of([1e6 * r.cpu / args.latency for r in chat], '.0f')} us "
        f"a message relayed, {spread_of(direct_chat, '.0f')} us direct (the registry's share: the "
        "lookup the sender makes before each delivery round)",
        flush=True,
    )
    latency = {mode: [x for r in done for x in r.latency] for mode, done in runs.items()}
    p50s = {mode: [percentile(r.latency, 0.5) for r in done] for mode, done in runs.items()}
    added = percentile(latency["relayed"], 0.5) - percentile(latency["direct"], 0.5)
    print(
        f"relay: latency one message at a time, send to delivered ({args.latency} a run, "
        f"{rounds} runs pooled): direct {ms(latency['direct'])} | relayed "
        f"{ms(latency['relayed'])} | the relay adds {1000 * added:.1f} ms at p50 (aim <= 20 ms; "
        f"p50 of each run: direct {spread_ms(p50s['direct'])}, relayed "
        f"{spread_ms(p50s['relayed'])})",
        flush=True,
    )
    one_way = {mode: [x for r in done for x in r.one_way] for mode, done in runs.items()}
    print(
        f"relay: the same messages, send to committed by the receiver: direct "
        f"{ms(one_way['direct'])} | relayed {ms(one_way['relayed'])}",
        flush=True,
    )
    first = {mode: [x for r in done for x in r.first_committed] for mode, done in runs.items()}
    acked = {mode: [x for r in done for x in r.first_delivered] for mode, done in runs.items()}
    print(
        f"relay: first message from a new sender, send to committed by the receiver (median "
        f"(range) of {len(first['relayed'])}): to a --listen none peer "
        f"{spread_ms(first['relayed'])} (aim <= 3000 ms), delivered at the sender "
        f"{spread_ms(acked['relayed'])} | to a listening peer, direct {spread_ms(first['direct'])}",
        flush=True,
    )


def spread_ms(seconds: list[float]) -> str:
    """The median and the range, in milliseconds."""
    return spread_of([1000 * s for s in seconds], ".1f") + " ms"


def spread_of(values: list[float], style: str) -> str:
    """The median and the range, each formatted with ``style``."""
    return f"{statistics.median(values):{style}} ({min(values):{style}}-{max(values):{style}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="sent for the rate")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each mode (median)")
    parser.add_argument("--latency", type=int, default=300, help="one-at-a-time sends a run")
    parser.add_argument("--tries", type=int, default=5, help="first messages a run")
    args = parser.parse_args()
    if min(args.messages, args.rounds, args.latency, args.tries) < 1:
        parser.error("every count must be at least 1")
    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            runs[mode].append(run_mode(mode, args))
    report(runs, args)


if __name__ == "__main__":
    main()
