"""The real services the registry's tests stand on (``tests.services``): a Redis that keeps what
it answered across a crash and a restart on the same URL, and an nginx that carries a WebSocket
to its upstream with the client's address in ``X-Forwarded-For``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from tests import services
from tests.services import Nginx, RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

DEADLINE = 20.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_redis_keeps_a_key_across_a_restart_on_the_same_url(
    redis_server: RedisServer, how: str
) -> None:
    """SIGKILL (a crash) or SIGTERM, then a restart: the AOF in the folder brings the key back."""

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            assert await client.set("cw:test", b"\x00kept") is True
        finally:
            await client.aclose()
        url = redis_server.url
        await asyncio.to_thread(getattr(redis_server, how))
        assert not redis_server.running
        await asyncio.to_thread(redis_server.restart)
        assert redis_server.url == url
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            assert await client.get("cw:test") == b"\x00kept"
            assert await client.get("cw:other") is None
        finally:
            await client.aclose()

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert list((redis_server.directory / "appendonlydir").iterdir())


def test_redis_moves_to_another_port_when_its_port_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port found free can be taken before redis binds it: the next start takes another."""
    with socket.socket() as squatter:
        squatter.bind((services.HOST, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        real = services.free_port
        monkeypatch.setattr(services, "free_port", lambda host: next(picks, None) or real(host))
        with RedisServer(tmp_path / "redis") as server:
            assert server.port != taken
            assert "Address already in use" in server.log()
            with socket.create_connection((server.host, server.port), timeout=5) as sock:
                sock.sendall(b"PING\r\n")
                assert sock.recv(64) == b"+PONG\r\n"


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_nginx_carries_a_binary_websocket_message_to_its_upstream(
    tmp_path: Path, tls: bool
) -> None:
    """One binary message there and back through the proxy; the upstream sees the path and the
    client's address as the last ``X-Forwarded-For`` hop."""
    seen: list[tuple[str, str | None]] = []

    async def echo(websocket: ServerConnection) -> None:
        request = websocket.request
        assert request is not None  # the handshake is done when the handler runs
        seen.append((request.path, request.headers.get("X-Forwarded-For")))
        async for message in websocket:
            await websocket.send(message)

    async def scenario() -> None:
        async with serve(echo, "127.0.0.1", 0) as upstream:
            port = upstream.sockets[0].getsockname()[1]
            nginx = Nginx(f"127.0.0.1:{port}", tmp_path / "nginx", tls=tls)
            await asyncio.to_thread(nginx.start)
            try:
                assert nginx.url.startswith("wss://" if tls else "ws://")
                context = nginx.client_context() if tls else None
                async with connect(nginx.url, ssl=context, compression=None) as websocket:
                    payload = bytes(range(256)) * 4
                    await websocket.send(payload)
                    assert await websocket.recv() == payload
            finally:
                await asyncio.to_thread(nginx.close)
            assert not nginx.running

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert seen == [("/chinwag", "127.0.0.1")]
