"""The registry server on loopback, spoken to frame by frame, including by hostile clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import pytest

from chinwag.adapters.registry.protocol import MAX_REQUEST_FRAME, PROTOCOL_VERSION
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.wire.codec import FrameDecoder, encode
from chinwag.application.errors import AddressInUse
from tests.support import wait_until

Message = dict[str, Any]
DEADLINE = 10.0


def run(coro: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    """Run ``coro`` on a fresh loop, bounded by ``timeout`` seconds; close what it opened."""

    async def bounded() -> None:
        try:
            async with asyncio.timeout(timeout):
                await coro
        finally:
            for raw in Raw.opened:
                raw.writer.transport.abort()
            Raw.opened.clear()

    asyncio.run(bounded())


class Raw:
    """A hand-driven registry connection: send dicts or bytes, read frames as dicts."""

    opened: ClassVar[list[Raw]] = []
    """Every connection of the running test, closed by :func:`run`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        Raw.opened.append(self)
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(4 * 1024 * 1024)
        self.inbox: list[Message] = []
        self.online: set[str] = set()
        self.rid = 0

    @classmethod
    async def open(cls, address: tuple[str, int], rcvbuf: int | None = None) -> Raw:
        sock = None
        if rcvbuf is not None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.connect(address)
            sock.setblocking(False)
            reader, writer = await asyncio.open_connection(sock=sock)
        else:
            reader, writer = await asyncio.open_connection(*address)
        return cls(reader, writer)

    @classmethod
    async def welcomed(cls, address: tuple[str, int]) -> Raw:
        raw = await cls.open(address)
        assert (await raw.next())["type"] == "welcome"
        return raw

    def send(self, message: Message) -> None:
        self.writer.write(encode(json.dumps(message).encode()))

    def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)

    async def next(self, timeout: float = DEADLINE) -> Message:
        """The next frame; presence frames also update :attr:`online`."""
        async with asyncio.timeout(timeout):
            while not self.inbox:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed by the server")
                for frame in self.decoder.feed(data):
                    message = json.loads(frame)
                    if message["type"] == "presence":
                        self.online = set(message["online"])
                    elif message["type"] == "presence_changed":
                        self.online |= set(message["joined"])
                        self.online -= set(message["left"])
                    self.inbox.append(message)
        return self.inbox.pop(0)

    async def request(self, message: Message) -> Message:
        """Send ``message`` with a fresh rid; return the answer that echoes it."""
        self.rid += 1
        self.send({**message, "rid": self.rid})
        while True:
            answer = await self.next()
            if answer.get("rid") == self.rid:
                return answer

    async def register(self, user: str, port: int = 5000, session: str | None = None) -> Message:
        answer = await self.request(
            {
                "type": "register",
                "version": PROTOCOL_VERSION,
                "user": user,
                "port": port,
                "session": session or f"session-{user}",
            }
        )
        if answer["type"] == "registered":
            snapshot = await self.next()
            assert snapshot["type"] == "presence"
        return answer

    async def sees(self, condition: Callable[[set[str]], bool]) -> None:
        """Read pushes until the online set satisfies ``condition``."""
        while not condition(self.online):
            await self.next()

    async def closed_by_server(self, timeout: float = DEADLINE) -> list[Message]:
        """Read until EOF; return the frames that came before it."""
        frames: list[Message] = []
        try:
            while True:
                frames.append(await self.next(timeout))
        except (ConnectionError, json.JSONDecodeError):
            return frames

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def started(**options: Any) -> RegistryServer:
    server = RegistryServer("127.0.0.1", 0, **options)
    await server.start()
    return server


# -- the happy paths ---------------------------------------------------------------------------


def test_welcome_register_list_lookup_unregister() -> None:
    async def scenario() -> None:
        server = await started(heartbeat_interval=2.0, idle_timeout=7.0)
        raw = await Raw.open(server.address)
        welcome = await raw.next()
        assert welcome == {
            "type": "welcome",
            "version": 1,
            "heartbeat_interval": 2.0,
            "idle_timeout": 7.0,
            "max_frame": MAX_REQUEST_FRAME,
        }
        registered = await raw.register("Alice", port=5000)
        assert registered == {
            "type": "registered",
            "rid": 1,
            "user": "alice",
            "host": "127.0.0.1",
            "port": 5000,
        }
        assert raw.online == {"alice"}
        assert await raw.request({"type": "list"}) == {
            "type": "online",
            "rid": 2,
            "online": ["alice"],
        }
        found = await raw.request({"type": "lookup", "user": "ALICE"})
        assert found == {
            "type": "found",
            "rid": 3,
            "user": "alice",
            "host": "127.0.0.1",
            "port": 5000,
        }
        assert await raw.request({"type": "ping"}) == {"type": "pong", "rid": 4}
        assert await raw.request({"type": "unregister"}) == {"type": "unregistered", "rid": 5}
        assert server.online() == frozenset()
        answer = await raw.request({"type": "lookup", "user": "alice"})
        assert answer["code"] == "not_registered"
        await raw.close()
        await server.close()

    run(scenario())


def test_the_registered_host_is_the_given_one_or_the_peers_ip_if_unspecified() -> None:
    async def scenario() -> None:
        server = await started()
        given, unspecified, unspecified6 = [await Raw.welcomed(server.address) for _ in range(3)]
        a = await given.request(
            {
                "type": "register",
                "version": 1,
                "user": "a",
                "port": 1,
                "host": "10.1.2.3",
                "session": "a",
            }
        )
        b = await unspecified.request(
            {
                "type": "register",
                "version": 1,
                "user": "b",
                "port": 2,
                "host": "0.0.0.0",
                "session": "b",
            }
        )
        c = await unspecified6.request(
            {"type": "register", "version": 1, "user": "c", "port": 3, "host": "::", "session": "c"}
        )
        assert (a["host"], b["host"], c["host"]) == ("10.1.2.3", "127.0.0.1", "127.0.0.1")
        await server.close()

    run(scenario())


def test_presence_is_pushed_on_join_and_on_leave() -> None:
    async def scenario() -> None:
        server = await started()
        alice = await Raw.welcomed(server.address)
        await alice.register("alice")
        bob = await Raw.welcomed(server.address)
        await bob.register("bob")
        assert bob.online == {"alice", "bob"}
        assert await alice.next() == {"type": "presence_changed", "joined": ["bob"], "left": []}
        await bob.request({"type": "unregister"})
        assert await alice.next() == {"type": "presence_changed", "joined": [], "left": ["bob"]}
        await bob.register("bob")
        assert await alice.next() == {"type": "presence_changed", "joined": ["bob"], "left": []}
        await alice.close()  # a dropped connection leaves too
        assert await bob.next() == {"type": "presence_changed", "joined": [], "left": ["alice"]}
        assert server.online() == frozenset({"bob"})
        await server.close()

    run(scenario())


def test_a_second_live_session_cannot_take_a_name() -> None:
    async def scenario() -> None:
        server = await started()
        first = await Raw.welcomed(server.address)
        await first.register("alice", session="one")
        second = await Raw.welcomed(server.address)
        answer = await second.register("ALICE", session="two")
        assert answer["type"] == "error"
        assert answer["code"] == "name_taken"
        assert answer["rid"] == 1
        assert (await first.request({"type": "ping"}))["type"] == "pong"
        await server.close()

    run(scenario())


def test_the_same_session_replaces_its_old_connection_without_a_presence_flap() -> None:
    async def scenario() -> None:
        server = await started()
        watcher = await Raw.welcomed(server.address)
        await watcher.register("watcher")
        ghost = await Raw.welcomed(server.address)
        await ghost.register("alice", port=5000, session="same")
        await watcher.sees(lambda online: "alice" in online)
        fresh = await Raw.welcomed(server.address)
        assert (await fresh.register("alice", port=6000, session="same"))["type"] == "registered"
        last = await ghost.closed_by_server()
        assert last[-1]["type"] == "error"
        assert last[-1]["code"] == "replaced"
        found = await watcher.request({"type": "lookup", "user": "alice"})
        assert found["port"] == 6000
        assert watcher.inbox == []  # no "left alice" / "joined alice" was pushed
        assert server.online() == frozenset({"watcher", "alice"})
        await server.close()

    run(scenario())


REGISTER: Message = {"type": "register", "version": 1, "user": "carol", "port": 1, "session": "s"}


@pytest.mark.parametrize(
    ("registered_first", "request_", "code"),
    [
        (True, {"type": "lookup", "user": "nobody"}, "unknown_user"),
        (True, {"type": "lookup", "user": "bad name"}, "invalid_username"),
        (False, {"type": "lookup", "user": "me"}, "not_registered"),
        (False, {"type": "list"}, "not_registered"),
        (False, {"type": "unregister"}, "not_registered"),
        (False, {**REGISTER, "user": "al\u202eice"}, "invalid_username"),
        (False, {**REGISTER, "user": "a" * 33}, "invalid_username"),
        (False, {**REGISTER, "version": 99}, "unsupported_version"),
        (True, REGISTER, "already_registered"),
        (True, {"type": "lookup"}, "bad_request"),
        (False, {"type": "teleport"}, "bad_request"),
        (False, {"type": "ping", "extra": True}, "bad_request"),
        (False, {**REGISTER, "port": "5000"}, "bad_request"),
    ],
)
def test_refusals_carry_a_code_and_echo_the_rid_and_keep_the_connection(
    registered_first: bool, request_: Message, code: str
) -> None:
    async def scenario() -> None:
        server = await started()
        raw = await Raw.welcomed(server.address)
        if registered_first:
            await raw.register("me")
        answer = await raw.request(request_)
        assert answer["type"] == "error"
        assert answer["code"] == code
        assert answer["rid"] == raw.rid
        assert answer["message"]
        assert (await raw.request({"type": "ping"}))["type"] == "pong"
        await server.close()

    run(scenario())


def test_starting_on_a_port_in_use_raises_address_in_use() -> None:
    async def scenario() -> None:
        server = await started()
        with pytest.raises(AddressInUse, match="already in use"):
            await RegistryServer("127.0.0.1", server.address[1]).start()
        await server.close()

    run(scenario())


# -- hostile clients, while good clients keep being served ----------------------------------------


async def pinging(raw: Raw, interval: float = 0.2) -> None:
    """Keep ``raw`` alive past a short idle timeout."""
    while True:
        raw.send({"type": "ping"})
        await asyncio.sleep(interval)


async def good_clients_are_served(server: RegistryServer, round_: int) -> None:
    """Two fresh clients register, see each other, look each other up and see each other leave."""
    first = await Raw.welcomed(server.address)
    await first.register(f"good{round_}a", port=7000)
    second = await Raw.welcomed(server.address)
    await second.register(f"good{round_}b", port=7001)
    await first.sees(lambda online: f"good{round_}b" in online)
    assert (await first.request({"type": "lookup", "user": f"good{round_}b"}))["port"] == 7001
    assert (await second.request({"type": "lookup", "user": f"good{round_}a"}))["port"] == 7000
    await second.close()
    await first.sees(lambda online: f"good{round_}b" not in online)
    await first.close()


Hostile = Callable[[Raw], Coroutine[Any, Any, list[Message]]]


async def garbage(raw: Raw) -> list[Message]:
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    return await raw.closed_by_server()


async def absurd_length(raw: Raw) -> list[Message]:
    raw.send_bytes(b"\xff\xff\xff\xff" + b"x" * 100)
    return await raw.closed_by_server()


async def oversized_frame(raw: Raw) -> list[Message]:
    raw.send_bytes(encode(b"{" + b" " * MAX_REQUEST_FRAME + b"}"))
    return await raw.closed_by_server()


async def empty_frame(raw: Raw) -> list[Message]:
    raw.send_bytes(struct.pack(">I", 0))
    return await raw.closed_by_server()


async def half_a_frame_then_silence(raw: Raw) -> list[Message]:
    raw.send_bytes(encode(b'{"type":"ping","rid":1}')[:10])
    return await raw.closed_by_server()


async def invalid_json_then_valid(raw: Raw) -> list[Message]:
    assert (await raw.next())["type"] == "welcome"
    for payload in (b"{not json", b"\xff\xfe\xfd", b"[1,2,3]", b'"just a string"', b"[" * 5000):
        raw.send_bytes(encode(payload))
    raw.send({"type": "ping", "rid": 99})
    answers = [await raw.next() for _ in range(6)]
    assert [a["code"] for a in answers[:5]] == ["bad_request"] * 5
    assert answers[5] == {"type": "pong", "rid": 99}  # frame boundaries are intact
    return answers


async def never_reads(raw: Raw) -> list[Message]:
    await raw.register("sink")
    raw.send_bytes(encode(b'{"type":"lookup","rid":1,"user":"sink"}') * 200_000)
    return []


HOSTILE: dict[str, tuple[Hostile, str | None]] = {
    "garbage": (garbage, "frame_too_large"),
    "absurd length prefix": (absurd_length, "frame_too_large"),
    "oversized frame": (oversized_frame, "frame_too_large"),
    "empty frame": (empty_frame, "bad_request"),
    "half a frame then silence": (half_a_frame_then_silence, "idle_timeout"),
    "invalid json": (invalid_json_then_valid, None),
    "never reads": (never_reads, None),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_client_never_disturbs_the_others(kind: str) -> None:
    behave, last_error = HOSTILE[kind]

    async def scenario() -> None:
        server = await started(heartbeat_interval=0.3, idle_timeout=1.0)
        watcher = await Raw.welcomed(server.address)
        await watcher.register("watcher")
        keepalive = asyncio.create_task(pinging(watcher))
        hostile = await Raw.open(server.address, rcvbuf=4096 if kind == "never reads" else None)
        behaviour = asyncio.create_task(behave(hostile))
        for round_ in range(3):
            await good_clients_are_served(server, round_)
        frames = await behaviour
        if last_error is not None:
            assert frames[-1]["type"] == "error"
            assert frames[-1]["code"] == last_error
        if kind == "never reads":
            await watcher.sees(lambda online: "sink" not in online)
        await wait_until(lambda: server.connection_count == 1)
        await good_clients_are_served(server, 99)
        await wait_until(lambda: server.online() == frozenset({"watcher"}))
        keepalive.cancel()
        await server.close()

    run(scenario())


def test_unread_pushes_past_the_bound_drop_the_connection() -> None:
    async def scenario() -> None:
        server = await started(max_write_buffer=16 * 1024, max_rate=1e9)  # churn is fast
        sink = await Raw.open(server.address, rcvbuf=4096)
        assert (await sink.register("sink"))["type"] == "registered"
        churn = await Raw.welcomed(server.address)
        cycle = encode(
            b'{"type":"register","version":1,"user":"churn","port":1,"session":"c"}'
        ) + encode(b'{"type":"unregister"}')
        while "sink" in server.online():  # each cycle pushes "joined" and "left" to the sink
            churn.send_bytes(cycle * 100)
            for _ in range(100 * 3):  # registered, presence, unregistered
                await churn.next()
        await wait_until(lambda: server.connection_count == 1)
        await server.close()

    run(scenario())


def test_a_client_that_stops_pinging_leaves_after_the_idle_timeout() -> None:
    async def scenario() -> None:
        server = await started(heartbeat_interval=0.2, idle_timeout=0.8)
        quiet = await Raw.welcomed(server.address)
        await quiet.register("quiet")
        watcher = await Raw.welcomed(server.address)
        await watcher.register("watcher")
        assert watcher.online == {"quiet", "watcher"}
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        while "quiet" in watcher.online:
            watcher.send({"type": "ping"})
            with contextlib.suppress(TimeoutError):
                await watcher.next(timeout=0.2)
        assert loop.time() - started_at >= 0.5
        frames = await quiet.closed_by_server()
        assert frames[-1]["code"] == "idle_timeout"
        await server.close()

    run(scenario())


def test_random_bytes_from_many_connections_leave_the_server_serving() -> None:
    async def scenario() -> None:
        server = await started(heartbeat_interval=0.3, idle_timeout=1.0)
        good = await Raw.welcomed(server.address)
        await good.register("good")
        rng = random.Random(20240611)
        valid = [
            b'{"type":"ping","rid":1}',
            b'{"type":"lookup","rid":2,"user":"good"}',
            b'{"type":"register","version":1,"user":"fuzz","port":9,"session":"f"}',
            b'{"type":"list","rid":3}',
            b'{"type":"unregister","rid":4}',
        ]

        def blob() -> bytes:
            kind = rng.randrange(4)
            if kind == 0:  # raw noise
                return rng.randbytes(rng.randrange(1, 200))
            if kind == 1:  # well framed noise
                return encode(rng.randbytes(rng.randrange(1, 200)))
            if kind == 2:  # valid requests with a few bytes flipped
                payload = bytearray(rng.choice(valid))
                for _ in range(rng.randrange(1, 4)):
                    payload[rng.randrange(len(payload))] = rng.randrange(256)
                return encode(bytes(payload))
            return b"".join(encode(rng.choice(valid)) for _ in range(rng.randrange(1, 5)))

        for _ in range(30):
            connections = [await Raw.open(server.address) for _ in range(10)]
            for raw in connections:
                raw.send_bytes(b"".join(blob() for _ in range(rng.randrange(1, 4))))
            for raw in connections:
                await raw.close()
            assert (await good.request({"type": "lookup", "user": "good"}))["port"] == 5000
        await wait_until(lambda: server.connection_count == 1)
        assert server.online() == frozenset({"good"})
        await good_clients_are_served(server, 0)
        await server.close()

    run(scenario())


def test_close_ends_every_connection_and_task() -> None:
    async def scenario() -> None:
        server = await started()
        clients = [await Raw.welcomed(server.address) for _ in range(5)]
        await clients[0].register("alice")
        await server.close()
        for raw in clients:
            await raw.closed_by_server()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario())


def test_a_connection_over_the_request_rate_is_told_and_others_are_served() -> None:
    async def answers_to(host: str, port: int, data: bytes, until: bytes) -> list[bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        await writer.drain()
        decoder = FrameDecoder(1 << 22)
        answers: list[bytes] = []
        async with asyncio.timeout(5):
            while not any(until in a for a in answers):
                answers.extend(decoder.feed(await reader.read(65536)))
        writer.close()
        return answers

    def ping(n: int) -> bytes:
        return encode(json.dumps({"type": "ping", "rid": n}).encode())

    async def scenario() -> None:
        server = RegistryServer("127.0.0.1", 0, max_rate=50)
        host, port = await server.start()
        flood = await answers_to(host, port, b"".join(ping(n) for n in range(500)), b"rate_limited")
        assert sum(b'"pong"' in a for a in flood) <= 2 * 50 + 1  # the burst, and not more
        calm = await answers_to(host, port, ping(1), b'"pong"')
        assert any(b'"pong"' in a for a in calm)
        await server.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "limits", [{"max_connections": 3}, {"max_per_host": 3}], ids=["in all", "from one host"]
)
def test_connections_past_the_limit_are_told_busy_and_the_others_are_served(
    limits: dict[str, int],
) -> None:
    async def scenario() -> None:
        server = await started(**limits)
        idle = [await Raw.welcomed(server.address) for _ in range(3)]  # slow-loris style
        extra = await Raw.open(server.address)
        answer = await extra.next()
        assert (answer["type"], answer["code"]) == ("error", "busy")
        assert (await idle[0].register("alice"))["type"] == "registered"
        await server.close()

    run(scenario())
