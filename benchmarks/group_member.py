"""One group member as a real client in a process of its own, driven over a pipe (for
``benchmarks/bench_groups.py``).

The client is the product's container with the real adapters (TCP transport over Noise, SQLite
history with ``synchronous=FULL``, TCP registry client, Ed25519 signatures), built by
``benchmarks/bench_messages.make_client``. A sign-out closes it; the next sign-in builds a new
one on the same folder, as a restarted client would (nothing kept in memory across them).

The process answers each request ``(command, *args)`` with ``("ok", result)`` or ``("error",
text)``; every wait has a deadline. Times are ``time.perf_counter()`` values: one clock for all
processes on Linux, so the benchmark can compare an author's start with a member's commit.

The only departure from the product: the secure channel's records are wrapped to count, while
the benchmark asks (:data:`TALLY`), the bytes each record takes on the wire (its codec header,
ciphertext and tag; TCP/IP headers not included), by the type of the frames inside.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from multiprocessing.connection import Connection
from pathlib import Path
from uuid import UUID

from dependency_injector import providers

from benchmarks.bench_messages import Counter, make_client
from chinwag.adapters.secure.noise import CipherState
from chinwag.adapters.secure.session import RecordLayer, Security
from chinwag.adapters.wire.codec import FrameDecoder
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.group_log import GroupState
from chinwag.domain.group_message import author_key, signed_bytes
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import run_event_loop
from chinwag.entrypoints.container import Container, close_storage, open_storage

SYNCHRONOUS = "FULL"
BODY = "x" * 100
WINDOW = 2048
"""Sends handed to the use case at once (as ``bench_messages``)."""
DEADLINE = 120.0
"""Seconds any wait may take before the benchmark gives up."""


# -- counting the bytes of records ----------------------------------------------------------


class Tally:
    """Records sealed while :attr:`on`: per frame type, ``[frames, bytes, items]`` (items: the
    messages or changes a frame carries, else 1)."""

    def __init__(self) -> None:
        self.on = False
        self.frames: dict[str, list[int]] = {}

    def add(self, plaintext: bytes, sealed: int) -> None:
        """One record: each frame inside counts its codec frame; the record's own header and tag
        count with the first. Plaintext that is not whole JSON frames (a relay leg carrying the
        peer session's records, which are counted as themselves) counts as ``relayed``."""
        frames: list[tuple[str, int, int]] = []
        try:
            for payload in FrameDecoder(1 << 24).feed(plaintext):
                frame = json.loads(payload)
                items = frame.get("messages", frame.get("changes", [None]))
                frames.append((str(frame["type"]), 4 + len(payload), len(items)))
        except (ValueError, KeyError, TypeError, AttributeError):
            frames = []
        if sum(size for _, size, _ in frames) != len(plaintext):
            frames = [("relayed", len(plaintext), 1)]
        kind, size, items = frames[0]
        frames[0] = (kind, size + sealed - len(plaintext), items)
        for kind, size, items in frames:
            entry = self.frames.setdefault(kind, [0, 0, 0])
            entry[0] += 1
            entry[1] += size
            entry[2] += items


TALLY = Tally()


class CountingRecords:
    """The product's record layer, each sealed record told to :data:`TALLY`."""

    __slots__ = ("_inner",)

    def __init__(self, inner: RecordLayer) -> None:
        self._inner = inner

    def seal(self, data: bytes) -> bytes:
        sealed = self._inner.seal(data)
        if TALLY.on and data:
            TALLY.add(data, len(sealed))
        return sealed

    def open(self, data: bytes) -> bytes:
        return self._inner.open(data)


class CountingSecurity(Security):
    """The product's Noise sessions, with :class:`CountingRecords`."""

    def records(
        self, send: CipherState, receive: CipherState, decoder: FrameDecoder
    ) -> RecordLayer:
        return CountingRecords(super().records(send, receive, decoder))


# -- the output port ------------------------------------------------------------------------


class GroupEvents(Counter):
    """The benchmarks' counting port, also noting group messages (by group: their ids, and when
    the first and the last came), groups joined, and which outgoing messages are delivered (a
    direct message, or a group message to every member)."""

    def __init__(self) -> None:
        super().__init__()
        self.group_ids: dict[UUID | None, list[UUID]] = {}
        self.first_at: dict[UUID | None, float] = {}
        self.last_at: dict[UUID | None, float] = {}
        self.groups: dict[UUID, GroupState] = {}
        self.delivered_ids: set[UUID] = set()
        self.delivered_at = 0.0

    def message_received(self, message: Message) -> None:
        now = time.perf_counter()
        key = message.group_id
        self.group_ids.setdefault(key, []).append(message.id)
        self.first_at.setdefault(key, now)
        self.last_at[key] = now
        super().message_received(message)

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        if message.state is MessageState.DELIVERED and message.id not in self.delivered_ids:
            self.delivered_ids.add(message.id)
            self.delivered_at = time.perf_counter()
        super().message_state_changed(message, route)

    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None:
        pass

    def group_changed(self, group: GroupState, left: bool) -> None:
        self.groups[group.id] = group
        self.changed.set()


# -- the member ------------------------------------------------------------------------------


class Member:
    """The requests the benchmark makes of one member (see the module's text)."""

    def __init__(self, name: str, folder: Path, registry_port: int, pipe: Connection) -> None:
        self.name = name
        self.folder = folder
        self.registry_port = registry_port
        self.pipe = pipe
        self.container: Container | None = None
        self.events = GroupEvents()
        self.handlers: dict[str, Callable[..., Awaitable[object]]] = {
            "sign_in": self.sign_in,
            "sign_out": self.sign_out,
            "online": self.online,
            "offline": self.offline,
            "create": self.create,
            "joined": self.joined,
            "post": self.post,
            "received": self.received,
            "delivered": self.delivered,
            "check": self.check,
            "route": self.route,
            "count": self.count,
            "settled": self.settled,
            "profile": self.profile,
        }
        self.profiler: cProfile.Profile | None = None

    async def serve(self) -> None:
        self.pipe.send(("ok", self.name))
        while (request := await asyncio.to_thread(self.pipe.recv))[0] != "stop":
            command, *args = request
            try:
                reply: tuple[str, object] = ("ok", await self.handlers[command](*args))
            except Exception as exc:  # told to the benchmark, which stops
                reply = ("error", f"{self.name} {command}: {type(exc).__name__}: {exc}")
            self.pipe.send(reply)
        if self.container is not None:
            await self.sign_out()
        self.pipe.send(("ok", None))

    @property
    def client(self) -> Container:
        if self.container is None:
            raise RuntimeError("not signed in")
        return self.container

    async def sign_in(self, listen: bool) -> tuple[float, float]:
        """A fresh client on this member's folder signs in (listening on a port, or nowhere);
        when it started and when sign-in returned."""
        if self.container is not None:
            raise RuntimeError("signed in already")
        self.events = GroupEvents()
        container = make_client(self.folder, self.registry_port, SYNCHRONOUS, self.events)
        security = container.adapters.security
        security.override(providers.Singleton(CountingSecurity, container.adapters.keys))
        await asyncio.to_thread(open_storage, container)
        started = time.perf_counter()
        address = PeerAddress(host="127.0.0.1", port=0) if listen else None
        await container.use_cases.sign_in().execute(self.name, address)
        self.container = container
        return started, time.perf_counter()

    async def sign_out(self) -> None:
        container, self.container = self.client, None
        await container.use_cases.sign_out().execute()
        await asyncio.to_thread(close_storage, container)

    async def online(self, names: list[str]) -> None:
        await self.events.until(lambda: set(names) <= self.events.online, DEADLINE)

    async def offline(self, name: str) -> None:
        await self.events.until(lambda: name not in self.events.online, DEADLINE)

    async def create(self, members: list[str]) -> str:
        state = await self.client.use_cases.groups().create("Bench", members)
        return str(state.id)

    async def joined(self, group: str, members: int) -> None:
        """Wait until this member holds ``group`` with ``members`` members."""
        gid = UUID(group)
        await self.events.until(
            lambda: gid in self.events.groups and len(self.events.groups[gid].names) == members,
            DEADLINE,
        )

    async def post(self, group: str | None, to: str | None, count: int) -> float:
        """Send ``count`` messages to ``group`` (or directly ``to`` a member), as fast as the
        use case takes them; when the first was handed over."""
        use = self.client.use_cases
        started = time.perf_counter()
        for offset in range(0, count, WINDOW):
            n = min(WINDOW, count - offset)
            if group is not None:
                post = use.post_to_group()
                await asyncio.gather(*(post.execute(UUID(group), BODY) for _ in range(n)))
            elif to is not None:
                send = use.send_message()
                await asyncio.gather(*(send.execute(to, BODY) for _ in range(n)))
        return started

    async def received(self, group: str | None, count: int) -> tuple[float, float]:
        """Wait until this client has committed ``count`` messages of ``group`` (None: direct
        ones) since it signed in; when the first and the last came."""
        key = UUID(group) if group is not None else None
        ids = self.events.group_ids
        await self.events.until(lambda: len(ids.get(key, ())) >= count, DEADLINE)
        return self.events.first_at[key], self.events.last_at[key]

    async def delivered(self, count: int) -> float:
        """Wait until ``count`` outgoing messages are delivered (to every member); when."""
        await self.events.until(lambda: len(self.events.delivered_ids) >= count, DEADLINE)
        return self.events.delivered_at

    async def route(self, peer: str) -> str | None:
        """How this client's session to ``peer`` goes (``direct``, ``relayed``; None: none)."""
        route = self.client.adapters.transport().route(peer)
        return None if route is None else route.value

    async def count(self, on: bool) -> dict[str, list[int]]:
        """Start counting record bytes afresh, or stop; the tally so far."""
        if on:
            TALLY.frames = {}
        TALLY.on = on
        return dict(TALLY.frames)

    async def settled(self, quiet: float) -> None:
        """Wait until no group sync is under way here and nothing was sealed for ``quiet``
        seconds (how a benchmark knows an exchange is over: an answer may be nothing)."""
        sync = self.client.use_cases.group_sync()
        async with asyncio.timeout(DEADLINE):
            while True:
                await sync.idle()
                before = json.dumps(TALLY.frames)
                await asyncio.sleep(quiet)
                if json.dumps(TALLY.frames) == before:
                    return

    async def profile(self, on: bool) -> str:
        """Start profiling this process's event loop thread, or stop: the top functions by
        their own time, and by cumulative time."""
        if on:
            self.profiler = cProfile.Profile()
            self.profiler.enable()
            return ""
        if self.profiler is None:
            return "not profiling"
        self.profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(self.profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        self.profiler = None
        return text.getvalue()

    async def check(self, group: str, expected: dict[str, int], fresh: int) -> dict[str, int]:
        """Every message of ``group`` stored here, checked: each author's numbers are exactly
        1..``expected[author]`` (no gap, none twice), each signature verifies with the key the
        group's log gives its author, no message id is stored twice, and the ``fresh`` messages
        committed since sign-in were told once each. Raises AssertionError; else the counts."""
        gid = UUID(group)
        use, adapters = self.client.use_cases, self.client.adapters
        view = await use.group_book().view(gid)
        assert view is not None, f"{self.name} does not know the group"
        signatures, repository = adapters.signatures(), adapters.messages()
        checked = 0
        for author, upto in expected.items():
            seqs: list[int] = []
            while True:
                batch = await repository.group_messages(gid, author, seqs[-1] if seqs else 0, 500)
                if not batch:
                    break
                for message in batch:
                    assert message.stamp is not None
                    key = author_key(view.states, message, view.chain)
                    good = signatures.verify(key, signed_bytes(message), message.stamp.signature)
                    assert good, f"{self.name}: {author}'s message {message.stamp.seq} is forged"
                    seqs.append(message.stamp.seq)
            assert seqs == list(range(1, upto + 1)), (
                f"{self.name} holds {author}'s messages {seqs[:3]}...{seqs[-3:]} "
                f"({len(seqs)}), not 1..{upto}"
            )
            checked += len(seqs)
        path = self.folder / "history.sqlite3"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows, ids = db.execute(
                "SELECT count(*), count(DISTINCT id) FROM messages WHERE group_id = ?", (group,)
            ).fetchone()
        assert rows == ids == checked, f"{self.name}: {rows} rows, {ids} ids, {checked} checked"
        told = self.events.group_ids.get(gid, [])
        assert len(told) == len(set(told)) == fresh, (
            f"{self.name} was told of {len(told)} messages ({len(set(told))} distinct), not {fresh}"
        )
        return {"stored": rows, "verified": checked, "fresh": len(told)}


def member_process(name: str, folder: str, registry_port: int, pipe: Connection) -> None:
    """The child process's target: serve the benchmark's requests until ``stop``."""
    Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    run_event_loop(Member(name, Path(folder), registry_port, pipe).serve())
