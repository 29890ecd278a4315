"""The registry over WebSocket, in process: the same channel as over TCP (welcome, Noise
handshake, requests, relay legs), one codec frame per binary message, on ``/chinwag`` beside the
TCP listener and counted into the same caps; through a real nginx, the client's address is the
last ``X-Forwarded-For`` hop only when nginx is a trusted proxy.

Clients are the real ``RegistryDirectory`` over ``ws://`` where it fits, else hand-driven
(``Raw`` from the server's tests, over :func:`~chinwag.adapters.registry.ws_client.open_ws`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.endpoints import parse_endpoint
from chinwag.adapters.registry.protocol import MAX_SERVER_FRAME, PROLOGUE
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.registry.ws_client import WsRefused, open_ws
from chinwag.adapters.secure.channel import Security, open_secure
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import AddressInUse
from chinwag.domain.user import PeerAddress
from tests.integration.test_registry_client import Recorder
from tests.integration.test_registry_relay import Leg
from tests.integration.test_registry_server import DEADLINE, Raw, run
from tests.secure_support import RecordTap, read_clear_frame
from tests.services import Nginx
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

HERE = "127.0.0.1"


async def started(**options: Any) -> RegistryServer:
    options.setdefault("security", Security(LocalKeys.generate()))
    options.setdefault("probe", False)  # nothing listens at the ports these clients give
    options.setdefault("ws", (HERE, 0))
    server = RegistryServer(HERE, 0, **options)
    await server.start()
    return server


def ws_url(server: RegistryServer, path: str = "/chinwag") -> str:
    host, port = server.ws_address
    return f"ws://{host}:{port}{path}"


async def ws_raw(url: str, keys: LocalKeys | None = None) -> Raw:
    """A hand-driven registry session over WebSocket, the handshake done."""
    tap = RecordTap(keys)
    reader, writer = await open_ws(parse_endpoint(url), DEADLINE)
    try:
        welcome = await read_clear_frame(reader)
        stream = await open_secure(
            reader,
            writer,
            tap,
            prologue=PROLOGUE + encode(welcome),
            max_frame=MAX_SERVER_FRAME,
        )
    except BaseException:
        writer.transport.abort()
        raise
    return Raw(stream, tap)


@contextlib.contextmanager
def connecting_from(source: str) -> Iterator[None]:
    """New connections of the running loop leave from ``source`` (another loopback address),
    so a proxy in between has another address than its client."""
    loop = asyncio.get_running_loop()
    original = loop.create_connection
    loop.create_connection = functools.partial(  # type: ignore[method-assign]
        original, local_addr=(source, 0)
    )
    try:
        yield
    finally:
        del loop.create_connection  # the class's method again


# -- the same registry over both transports ---------------------------------------------------


def test_a_websocket_client_and_a_tcp_client_see_and_find_each_other() -> None:
    async def scenario() -> None:
        server = await started()
        alice_keys = LocalKeys.generate()
        alice = RegistryDirectory(parse_endpoint(ws_url(server)), security=Security(alice_keys))
        bob = RegistryDirectory(HERE, server.address[1], security=Security(LocalKeys.generate()))
        alice_events, bob_events = Recorder(), Recorder()
        here = PeerAddress(host=HERE, port=5000)
        assert await alice.sign_in("alice", here, alice_events) == "alice"
        assert await bob.sign_in("bob", PeerAddress(host=HERE, port=6000), bob_events) == "bob"
        await wait_until(lambda: alice.online() >= {"alice", "bob"}, DEADLINE)
        assert bob.online() >= {"alice", "bob"}
        found = await bob.lookup("alice")
        assert (found.address, found.key) == (here, alice_keys.identity_key)
        assert (await alice.lookup("bob")).address == PeerAddress(host=HERE, port=6000)
        assert server.core.stats.connections_accepted == {"ws": 1, "tcp": 1}
        await alice.sign_out()
        await wait_until(lambda: "alice" not in bob.online(), DEADLINE)
        await bob.sign_out()
        await server.close()

    run(scenario())


def test_relayed_chat_runs_across_a_websocket_link() -> None:
    """Alice over WebSocket (her request and her leg), bob over TCP: the relay joins the legs
    and carries bytes both ways as they are."""

    async def scenario() -> None:
        server = await started()
        alice_keys, bob_keys = LocalKeys.generate(), LocalKeys.generate()
        alice = await ws_raw(ws_url(server), alice_keys)
        await alice.register("alice", port=None)
        bob = await Raw.welcomed(server.address, bob_keys)
        await bob.register("bob", port=None)
        ready = await alice.request({"type": "relay", "to": "bob"})
        assert ready["type"] == "relay_ready", ready
        sid = ready["sid"]
        incoming = await bob.next()
        while incoming["type"] == "presence_changed":
            incoming = await bob.next()
        assert (incoming["type"], incoming["sid"], incoming["from"]) == (
            "relay_incoming",
            sid,
            "alice",
        )
        a_raw = await ws_raw(ws_url(server), alice_keys)
        a_raw.send({"type": "relay_join", "rid": 11, "sid": sid})
        a = Leg(a_raw)
        b = await Leg.open(server.address, bob_keys, sid, rid=22)
        assert await a.answer() == {"type": "relay_joined", "rid": 11, "sid": sid}
        assert await b.answer() == {"type": "relay_joined", "rid": 22, "sid": sid}
        big = bytes(range(256)) * 1024  # 256 KiB: many WebSocket messages each way
        a.send(big)
        b.send(b"hello alice")
        assert await b.receive(len(big)) == big
        assert await a.receive(11) == b"hello alice"
        await server.close()

    run(scenario())


# -- bad inputs cost only their own connection ---------------------------------------------------


def test_text_oversized_and_wrong_path_cost_only_that_connection() -> None:
    async def scenario() -> None:
        server = await started()
        good = await ws_raw(ws_url(server))
        await good.register("alice")
        tcp = await Raw.welcomed(server.address)
        await tcp.register("bob")
        async with connect(ws_url(server)) as ws:
            await ws.recv()  # the welcome, one binary message
            await ws.send("a text message")
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
        async with connect(ws_url(server), max_size=None) as ws:
            await ws.recv()
            await ws.send(b"x" * (MAX_MESSAGE + 1))
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        with pytest.raises(WsRefused) as refused:
            await open_ws(parse_endpoint(ws_url(server, "/other")), DEADLINE)
        assert refused.value.status == 404
        await wait_until(lambda: server.connection_count == 2, DEADLINE)
        assert server.online() == frozenset({"alice", "bob"})
        assert (await good.request({"type": "lookup", "user": "bob"}))["type"] == "found"
        assert (await tcp.request({"type": "lookup", "user": "alice"}))["type"] == "found"
        await server.close()

    run(scenario())


def test_both_listeners_count_into_the_same_caps() -> None:
    async def scenario() -> None:
        server = await started(max_per_host=2)
        tcp = await Raw.welcomed(server.address)
        ws = await ws_raw(ws_url(server))
        with pytest.raises(ConnectionError):  # refused at its accept: nothing to read
            await ws_raw(ws_url(server))
        extra = await asyncio.open_connection(*server.address)
        assert b"busy" in await extra[0].read()
        extra[1].transport.abort()
        assert server.core.stats.connections_refused["per_address"] == 2
        await ws.close()
        await wait_until(lambda: server.caps.connections == 1, DEADLINE)
        again = await ws_raw(ws_url(server))
        assert (await again.register("alice"))["type"] == "registered"
        assert (await tcp.register("bob"))["type"] == "registered"
        await server.close()

    run(scenario())


def test_a_websocket_that_does_not_finish_its_handshake_is_dropped() -> None:
    """The deadline counts from the accept: an upgrade then silence costs no more time than a
    TCP connection saying nothing."""

    async def scenario() -> None:
        server = await started(handshake_timeout=0.3)
        reader, writer = await open_ws(parse_endpoint(ws_url(server)), DEADLINE)
        assert server.caps.handshakes_from(HERE) == 1
        async with asyncio.timeout(DEADLINE):
            with contextlib.suppress(ConnectionError):
                while await reader.read(4096):
                    pass
        await wait_until(lambda: server.caps.connections == 0, DEADLINE)
        writer.transport.abort()
        await server.close()

    run(scenario())


def test_start_binds_both_listeners_or_neither() -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind((HERE, 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = RegistryServer(
                HERE, 0, security=Security(LocalKeys.generate()), probe=False, ws=(HERE, port)
            )
            with pytest.raises(AddressInUse, match="for WebSocket"):
                await server.start()
            await server.close()
        server = await started()
        assert server.ws_address[1] != server.address[1]
        await server.close()

    run(scenario())


# -- through a real nginx ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_through_nginx_the_address_is_the_forwarded_hop_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: bool
) -> None:
    """The client connects to nginx from 127.0.0.2; nginx connects to the registry from
    127.0.0.1 and says ``X-Forwarded-For: 127.0.0.2``."""

    async def scenario() -> None:
        server = await started(trusted_proxies=["127.0.0.1/32"] if trusted else [])
        host, port = server.ws_address
        nginx = Nginx(f"{host}:{port}", tmp_path / "nginx")
        await asyncio.to_thread(nginx.start)
        try:
            with connecting_from("127.0.0.2"):
                raw = await ws_raw(nginx.url)
            registered = await raw.register("alice", port=5000)
            expected = "127.0.0.2" if trusted else HERE
            assert registered["host"] == expected
            assert server.caps.keys_from(expected) == 1
            found = await raw.request({"type": "lookup", "user": "alice"})
            assert found["host"] == expected
            await raw.close()
            await wait_until(lambda: not server.online(), DEADLINE)
        finally:
            await server.close()
            await asyncio.to_thread(nginx.close)

    run(scenario())
