"""The WebSocket shells (``ws_server``, ``ws_client``) carry codec frames as binary messages,
with no registry yet: an echo protocol stands where the registry's ``Connection`` will. Both
ends are also checked against websockets' own asyncio client and server, and through a real
nginx (``ws://`` and ``wss://``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import os
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.endpoints import parse_endpoint
from chinwag.adapters.registry.link import RegistryGate
from chinwag.adapters.registry.protocol import (
    PROTOCOL_VERSION,
    Found,
    Lookup,
    Register,
    Registered,
    dump,
)
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.registry.ws_client import WsRefused, open_ws
from chinwag.adapters.registry.ws_server import WsListener
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.wire.codec import FrameDecoder, encode
from tests.services import Nginx
from tests.support import wait_until

DEADLINE = 5.0
CLOSE = b"close"
FLOOD = b"flood"
DONE = b"done"
FLOOD_PIECE = 60_000
FLOOD_MOST = 400  # 24 MB: more than any loopback socket buffers before the writer pauses


class Echo(asyncio.Protocol):
    """Sends every codec frame back; ``close`` closes; ``flood`` writes big frames until the
    transport asks it to pause, then ``done`` once resumed."""

    def __init__(self, made: list[Echo]) -> None:
        made.append(self)
        self.decoder = FrameDecoder(MAX_MESSAGE)
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.eof = False
        self.paused = False
        self.flooded = 0
        self.resumed = asyncio.Event()
        self.flooding = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for frame in self.decoder.feed(data):
            if frame == CLOSE:
                self.transport.close()
            elif frame == FLOOD:
                while not self.paused and self.flooded < FLOOD_MOST:
                    self.transport.write(encode(os.urandom(FLOOD_PIECE)))
                    self.flooded += 1
                self.flooding.set()
            else:
                self.transport.write(encode(frame))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.resumed.set()
        if self.transport is not None and self.flooded:
            self.transport.write(encode(DONE))

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


Scenario = Callable[[WsListener, list[Echo]], Awaitable[None]]


def run(scenario: Scenario, **options: object) -> None:
    async def main() -> None:
        made: list[Echo] = []
        listener = WsListener(lambda: Echo(made), **options)  # type: ignore[arg-type]
        await listener.start()
        try:
            async with asyncio.timeout(DEADLINE * 2):
                await scenario(listener, made)
        finally:
            await listener.close()

    asyncio.run(main())


def url(listener: WsListener, path: str = "/chinwag") -> str:
    host, port = listener.address
    return f"ws://{host}:{port}{path}"


async def read_frames(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    decoder = FrameDecoder(MAX_MESSAGE)
    frames: list[bytes] = []
    while len(frames) < count:
        data = await reader.read(256 * 1024)
        if not data:
            raise ConnectionError(f"closed after {len(frames)} of {count} frames")
        frames += decoder.feed(data)
    return frames


async def echo_many(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """400 frames from 1 byte to the limit, written in uneven pieces, all back in order."""
    rng = random.Random(12)
    payloads = [rng.randbytes(rng.choice([1, 2, 100, 4096, MAX_MESSAGE])) for _ in range(400)]
    data = b"".join(encode(p) for p in payloads)

    async def write() -> None:
        start = 0
        while start < len(data):  # pieces that cut headers and bodies anywhere
            step = rng.randint(1, 70_000)
            writer.write(data[start : start + step])
            start += step
            await writer.drain()

    sender = asyncio.create_task(write())
    assert await read_frames(reader, len(payloads)) == payloads
    await sender


# -- both shells, in process ------------------------------------------------------------------


def test_many_frames_both_ways_and_a_clean_close_by_the_client() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        reader, writer = await open_ws(parse_endpoint(url(listener)), DEADLINE)
        await echo_many(reader, writer)
        peer = made[0].transport
        assert peer is not None and peer.get_extra_info("peername")[0] == "127.0.0.1"
        writer.close()
        await writer.wait_closed()
        assert await made[0].lost is None  # a close frame, not a reset
        assert made[0].eof
        assert not listener.connections

    run(scenario)


def test_the_server_closes_cleanly() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        reader, writer = await open_ws(parse_endpoint(url(listener)), DEADLINE)
        writer.write(encode(b"one") + encode(CLOSE) + encode(b"never echoed"))
        assert await read_frames(reader, 1) == [b"one"]
        assert await reader.read() == b""  # end of stream, no error
        await writer.wait_closed()
        assert await made[0].lost is None
        # websockets' own client sees a normal closure (1000).
        async with connect(url(listener)) as ws:
            await ws.send(CLOSE)
            with pytest.raises(ConnectionClosedOK) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000

    run(scenario)


def test_messages_from_another_client_are_frames_and_fragments_are_joined() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        async with connect(url(listener), compression=None) as ws:
            await ws.send(b"hello")
            assert await ws.recv() == b"hello"
            await ws.send([b"frag", b"mented"])  # one message in three WebSocket frames
            assert await ws.recv() == b"fragmented"
            await ws.ping()  # answered by the library, never reaching the protocol

    run(scenario)


def test_a_message_over_the_limit_is_refused_and_others_are_unharmed() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        reader, writer = await open_ws(parse_endpoint(url(listener)), DEADLINE)
        async with connect(url(listener), max_size=None) as ws:
            await ws.send(b"x" * (MAX_MESSAGE + 1))
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        writer.write(encode(b"still here"))
        assert await read_frames(reader, 1) == [b"still here"]
        # The protocol above never got a byte of it.
        assert all(echo.transport is not None for echo in made)
        writer.close()
        await writer.wait_closed()

    run(scenario)


def test_a_huge_declared_length_is_refused_before_any_of_it_is_sent() -> None:
    """A header announcing a terabyte, and no payload: closed 1009 at once, nothing buffered."""

    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        reader, writer = await raw_upgrade(listener)
        writer.write(b"\x82\xff" + struct.pack(">Q", 1 << 40) + os.urandom(4))
        frame = await reader.readexactly(4)
        assert frame[0] == 0x88 and struct.unpack(">H", frame[2:4])[0] == 1009
        await reader.read()  # the server ends the stream
        writer.close()
        assert await made[0].lost is not None  # the protocol above saw a broken stream

    run(scenario)


def test_a_text_message_is_refused() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        async with connect(url(listener)) as ws:
            await ws.send("a text message")
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003

    run(scenario)


def test_a_wrong_path_gets_404() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        with pytest.raises(WsRefused) as refused:
            await open_ws(parse_endpoint(url(listener, "/other")), DEADLINE)
        assert refused.value.status == 404
        with pytest.raises(InvalidStatus) as invalid:
            async with connect(url(listener, "/chinwag/more")):
                pass
        assert invalid.value.response.status_code == 404
        assert not made  # no protocol was made for either

    run(scenario)


def test_an_upgrade_not_finished_in_time_is_dropped() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        host, port = listener.address
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /chinwag HTTP/1.1\r\nHost: x\r\n")  # and never the end
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            assert await reader.read() == b""
        assert 0.1 <= time.monotonic() - started < 0.2 + DEADLINE
        writer.close()
        assert not made

    run(scenario, handshake_timeout=0.2)


def test_an_idle_connection_is_closed() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        reader, writer = await open_ws(parse_endpoint(url(listener)), DEADLINE)
        sent = time.monotonic()  # the server hears it after this: idle until 0.3 s later
        writer.write(encode(b"ping"))
        assert await read_frames(reader, 1) == [b"ping"]
        assert await reader.read() == b""
        assert time.monotonic() - sent >= 0.29
        assert await made[0].lost is None

    run(scenario, idle_timeout=0.3)


def test_backpressure_pauses_the_writer_until_the_reader_reads() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        reader, writer = await open_ws(parse_endpoint(url(listener)), DEADLINE)
        writer.write(encode(FLOOD))
        await writer.drain()
        echo = made[0]
        await echo.flooding.wait()
        assert echo.paused and echo.flooded < FLOOD_MOST  # the reader stopped taking
        frames = await read_frames(reader, echo.flooded + 1)
        assert frames[-1] == DONE and all(len(f) == FLOOD_PIECE for f in frames[:-1])
        assert echo.resumed.is_set()
        writer.close()
        await writer.wait_closed()

    run(scenario)


def test_a_trusted_proxy_gives_the_last_forwarded_hop() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        for forwarded, seen in [
            ("203.0.113.9, 198.51.100.7", "198.51.100.7"),
            ("not an address", "127.0.0.1"),
        ]:
            async with connect(
                url(listener), additional_headers={"X-Forwarded-For": forwarded}
            ) as ws:
                await ws.send(b"x")
                await ws.recv()
            transport = made[-1].transport
            assert transport is not None
            assert transport.get_extra_info("peername")[0] == seen

    run(scenario, trusted_proxies=[ipaddress.ip_network("127.0.0.0/8")])


def test_an_untrusted_peer_cannot_claim_an_address() -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        async with connect(url(listener), additional_headers={"X-Forwarded-For": "1.2.3.4"}):
            pass
        transport = made[0].transport
        assert transport is not None and transport.get_extra_info("peername")[0] == "127.0.0.1"

    run(scenario, trusted_proxies=[ipaddress.ip_network("10.0.0.0/8")])


def test_the_client_refuses_a_message_over_the_limit() -> None:
    """A server (websockets' own) sending 65,536 bytes in one message: the client closes 1009
    and its reader ends."""

    async def main() -> None:
        code: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

        async def handler(ws: ServerConnection) -> None:
            await ws.send(encode(b"fine")[4:])
            await ws.send(b"y" * (MAX_MESSAGE + 1))
            try:
                await ws.recv()
            except ConnectionClosedError as exc:
                code.set_result(exc.rcvd.code if exc.rcvd else None)

        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with asyncio.timeout(DEADLINE):
                reader, writer = await open_ws(
                    parse_endpoint(f"ws://127.0.0.1:{port}/chinwag"), DEADLINE
                )
                assert await read_frames(reader, 1) == [b"fine"]
                with pytest.raises(ConnectionError):
                    await read_frames(reader, 1)
                writer.close()
                assert await code == 1009

    asyncio.run(main())


def test_no_server_and_no_websocket_are_connection_errors() -> None:
    async def main() -> None:
        # Nothing listening.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            await open_ws(parse_endpoint(f"ws://127.0.0.1:{port}/chinwag"), DEADLINE)

        # A server that is no WebSocket server.
        async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(plain, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(WsRefused) as refused:
                await open_ws(parse_endpoint(f"ws://127.0.0.1:{port}/chinwag"), DEADLINE)
            assert refused.value.status == 200

    asyncio.run(main())


async def raw_upgrade(
    listener: WsListener,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An upgrade by hand, for frames no library would send."""
    host, port = listener.address
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /chinwag HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


# -- the registry's own connection and gate, unchanged, over the shells ------------------------


def test_the_registry_channel_runs_unchanged_over_the_shells() -> None:
    """Not wired in yet: a listener making the registry's ``Connection`` and a client whose
    ``RegistryGate`` opens over ``open_ws``: welcome, Noise handshake, register, lookup."""

    async def main() -> None:
        server = RegistryServer(
            "127.0.0.1", 0, security=Security(LocalKeys.generate()), probe=False
        )
        listener = WsListener(lambda: Connection(server))
        host, port = await listener.start()
        try:
            async with asyncio.timeout(DEADLINE * 2):
                reader, writer = await open_ws(parse_endpoint(f"ws://{host}:{port}"), DEADLINE)
                gate = RegistryGate("test", Security(LocalKeys.generate()), None, None, None)
                link = await gate.open(reader, writer)
                assert link.stream.remote.key == server.security.keys.identity_key
                link.send(dump(Register(rid=1, version=PROTOCOL_VERSION, user="alice", port=5000)))
                registered = await link.next()
                assert isinstance(registered, Registered) and registered.user == "alice"
                assert server.online() == frozenset({"alice"})
                link.send(dump(Lookup(rid=2, user="Alice")))
                while not isinstance(found := await link.next(), Found):
                    pass
                assert (found.user, found.host, found.port) == ("alice", "127.0.0.1", 5000)
                await link.aclose()
                await wait_until(lambda: not server.online(), DEADLINE)
        finally:
            await server.close()
            await listener.close()

    asyncio.run(main())


# -- through nginx ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_through_nginx(tmp_path: Path, tls: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(listener: WsListener, made: list[Echo]) -> None:
        host, port = listener.address
        nginx = Nginx(f"{host}:{port}", tmp_path / "nginx", tls=tls)
        await asyncio.to_thread(nginx.start)
        try:
            if nginx.certificate is not None:  # the default context, as the client makes it
                monkeypatch.setenv("SSL_CERT_FILE", str(nginx.certificate))
            endpoint = parse_endpoint(nginx.url)
            reader, writer = await open_ws(endpoint, DEADLINE)
            await echo_many(reader, writer)
            transport = made[0].transport
            assert transport is not None
            assert transport.get_extra_info("peername")[0] == "127.0.0.1"  # nginx's last hop
            writer.close()
            await writer.wait_closed()
            assert await made[0].lost is None
            # A path nginx hands on that is not the listener's: the listener's 404.
            wrong = parse_endpoint(nginx.url.replace("/chinwag", "/chinwag/x"))
            with pytest.raises(WsRefused) as refused:
                await open_ws(wrong, DEADLINE)
            assert refused.value.status == 404
            # The server closing goes through the proxy too.
            reader, writer = await open_ws(endpoint, DEADLINE)
            writer.write(encode(CLOSE))
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
        finally:
            await asyncio.to_thread(nginx.close)

    run(scenario, trusted_proxies=[ipaddress.ip_network("127.0.0.1/32")])
