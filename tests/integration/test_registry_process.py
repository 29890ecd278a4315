"""``python -m chinwag.entrypoints.registry`` as a real process: start, serve, stop, refuse."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Coroutine
from typing import Any

import pytest

from chinwag.adapters.wire.codec import FrameDecoder, encode

pytestmark = pytest.mark.slow

DEADLINE = 20.0
LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")


def run(coro: Coroutine[Any, Any, None], timeout: float = 40.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())


async def registry(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chinwag.entrypoints.registry",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


async def listening_port(process: asyncio.subprocess.Process) -> int:
    """The port from the ``listening on`` line, read with a deadline."""
    assert process.stdout is not None
    async with asyncio.timeout(DEADLINE):
        line = (await process.stdout.readline()).decode()
    match = LISTENING.search(line)
    assert match is not None, line
    assert match.group(1) == "127.0.0.1"
    return int(match.group(2))


async def register(port: int, user: str) -> dict[str, Any]:
    """Connect, register ``user`` and return the ``registered`` answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = FrameDecoder(1 << 20)
    frames: list[bytes] = []
    request = {"type": "register", "rid": 1, "version": 1, "user": user, "port": 9, "session": "s"}
    writer.write(encode(json.dumps(request).encode()))
    async with asyncio.timeout(DEADLINE):
        while len(frames) < 2:  # welcome, registered
            frames += decoder.feed(await reader.read(65536))
    writer.close()
    await writer.wait_closed()
    assert json.loads(frames[0])["type"] == "welcome"
    answer: dict[str, Any] = json.loads(frames[1])
    return answer


async def stopped_by(process: asyncio.subprocess.Process, signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    async with asyncio.timeout(DEADLINE):
        _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_until_a_signal_then_exits_cleanly(signum: int) -> None:
    async def scenario() -> None:
        process = await registry("--port", "0", "--log-level", "info")
        try:
            port = await listening_port(process)
            answer = await register(port, "Alice")
            assert answer == {
                "type": "registered",
                "rid": 1,
                "user": "alice",
                "host": "127.0.0.1",
                "port": 9,
            }
        finally:
            code, stderr = await stopped_by(process, signum)
        assert code == 0
        assert "Traceback" not in stderr
        assert re.search(
            r"\d\d:\d\d:\d\d.* INFO .*chinwag\.adapters\.registry\.server: alice joined", stderr
        )

    run(scenario())


def test_flags_win_over_the_environment() -> None:
    async def scenario() -> None:
        process = await registry("--port", "0", env={"CHINWAG_REGISTRY_PORT": "1"})
        try:
            assert await listening_port(process) != 1
        finally:
            code, _ = await stopped_by(process, signal.SIGTERM)
        assert code == 0

    run(scenario())


def test_the_environment_sets_the_port() -> None:
    async def scenario() -> None:
        process = await registry(env={"CHINWAG_REGISTRY_PORT": "0"})
        try:
            assert await listening_port(process) != 7420
        finally:
            code, _ = await stopped_by(process, signal.SIGTERM)
        assert code == 0

    run(scenario())


def test_a_port_in_use_is_one_clear_line_and_a_non_zero_exit() -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            process = await registry("--port", str(port))
            async with asyncio.timeout(DEADLINE):
                stdout, stderr = await process.communicate()
        assert process.returncode == 2
        assert stdout == b""
        lines = stderr.decode().splitlines()
        assert len(lines) == 1, lines
        assert f"127.0.0.1:{port}" in lines[0]
        assert "already in use" in lines[0]

    run(scenario())
