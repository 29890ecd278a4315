"""Fairness on loopback: the caps count what costs (issue 12's measurements, at small scale).

Before them, a thousand idle sockets from one address held that address's whole cap, so every
client behind the same NAT was told ``busy``; and one connection signing in and out in a loop
made a push to every client each time. Now idle handshakes give way to a newcomer (the oldest
first), an authenticated connection that does not register goes, identity keys registered from
one address are capped, and a watcher's pushes are rate-limited whatever the churn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.domain.registry.presence import PUSH_BURST, PUSH_RATE
from chinwag.domain.user import PeerAddress
from tests.integration.test_registry_client import Recorder
from tests.integration.test_registry_server import DEADLINE, Raw, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

HERE = "127.0.0.1"
IDLE = 300
"""Idle sockets from one address (the issue measured 1,000: the same shape, quicker)."""
GRACE = 0.2
"""Seconds a handshake is safe from eviction in these tests (1 s by default)."""


async def read_until_closed(reader: asyncio.StreamReader) -> None:
    """Read (the welcome, then nothing) until the server drops the connection."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(4096):
            pass


def test_idle_unauthenticated_connections_from_one_address_do_not_lock_out_a_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        # A handshake deadline far beyond the test: only the caps make room.
        server = await started(
            handshake_timeout=60.0, max_handshakes_per_address=32, handshake_grace=GRACE
        )
        caps, loop = server.caps, asyncio.get_running_loop()
        idle = [await asyncio.open_connection(*server.address) for _ in range(IDLE)]
        try:
            await wait_until(lambda: caps.handshakes_from(HERE) == IDLE, DEADLINE)
            # Within their grace they hold (a burst of reconnections behind one NAT); past it
            # they are idle sockets, and the next arrival drops all but the newest 31.
            opened = loop.time()
            await wait_until(lambda: loop.time() - opened > GRACE, DEADLINE, "the grace")
            client = RegistryDirectory(
                HERE, server.address[1], security=Security(LocalKeys.generate())
            )
            started_at = time.monotonic()
            here = PeerAddress(host=HERE, port=5000)
            assert await client.sign_in("alice", here, Recorder()) == "alice"
            assert time.monotonic() - started_at < DEADLINE
            assert server.online() == frozenset({"alice"})
            assert caps.handshakes_from(HERE) == 31  # alice's is done
            refused = server.core.stats.connections_refused["handshakes_per_address"]
            assert refused == IDLE - 31
            # The oldest went: the first socket is closed.
            async with asyncio.timeout(DEADLINE):
                await read_until_closed(idle[0][0])
            await client.sign_out()
        finally:
            for _, writer in idle:
                writer.transport.abort()
        await server.close()

    with caplog.at_level(logging.WARNING):
        run(scenario())
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines[0].startswith("refused a connection from 127.0.0.1: 32 handshakes in progress")
    assert len(lines) <= 2  # the first at once, the rest summed up later: never one per socket


def test_handshakes_that_time_out_make_room_too() -> None:
    async def scenario() -> None:
        server = await started(handshake_timeout=0.3, max_handshakes_per_address=1000)
        idle = [await asyncio.open_connection(*server.address) for _ in range(50)]
        await wait_until(lambda: server.caps.handshakes_from(HERE) == 0, DEADLINE)
        assert server.connection_count == 0
        raw = await Raw.welcomed(server.address)
        assert (await raw.register("alice"))["type"] == "registered"
        for _, writer in idle:
            writer.transport.abort()
        await server.close()

    run(scenario())


def test_an_authenticated_connection_that_does_not_register_is_closed() -> None:
    async def scenario() -> None:
        server = await started(register_timeout=0.3, handshake_timeout=5.0)
        lazy = await Raw.welcomed(server.address)
        # Pings keep it from being idle, not from having to register.
        pinging = await Raw.welcomed(server.address)
        signed = await Raw.welcomed(server.address)
        await signed.register("alice")

        async def ping() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                for n in range(1000):
                    pinging.send({"type": "ping", "rid": n})
                    await asyncio.sleep(0.05)

        task = asyncio.create_task(ping())
        started_at = time.monotonic()
        frames = await lazy.closed_by_server()
        assert frames[-1]["code"] == "idle_timeout" and "register" in frames[-1]["message"]
        assert time.monotonic() - started_at >= 0.25
        await pinging.closed_by_server()
        task.cancel()
        assert server.core.stats.connections_refused["no_register"] == 2
        assert (await signed.request({"type": "ping"}))["type"] == "pong"  # alice stays
        await server.close()

    run(scenario())


def test_identity_keys_registered_from_one_address_are_capped() -> None:
    async def scenario() -> None:
        server = await started(max_keys_per_address=2)
        first = await Raw.welcomed(server.address)
        await first.register("alice")
        second = await Raw.welcomed(server.address)
        await second.register("bob")
        third = await Raw.welcomed(server.address)
        refused = await third.register("carol")
        assert (refused["type"], refused["code"]) == ("error", "busy")
        # The same key again (a reconnection) is no new key.
        again = await Raw.welcomed(server.address, first.tap.keys)
        assert (await again.register("alice"))["type"] == "registered"
        await second.close()
        await wait_until(lambda: server.caps.keys_from(HERE) == 1, DEADLINE)
        assert (await third.register("carol"))["type"] == "registered"
        assert server.core.stats.connections_refused["keys_per_address"] == 1
        await server.close()

    run(scenario())


def test_signing_in_and_out_in_a_loop_cannot_flood_a_watcher() -> None:
    """Every sign-in and sign-out is a change for every watcher; the outbox lets at most
    ``PUSH_BURST`` pushes and then ``PUSH_RATE`` a second through, the rest coalesced."""

    async def scenario() -> None:
        server = await started(max_rate=1e6)  # the churner's requests are not what is limited
        watcher = await Raw.welcomed(server.address)
        await watcher.register("watcher")  # version 2: told about everyone
        pushes: list[float] = []

        async def count() -> None:
            while True:
                message = await watcher.next(timeout=60)
                if message["type"] == "presence_changed":
                    pushes.append(time.monotonic())

        counting = asyncio.create_task(count())
        churner = await Raw.welcomed(server.address)
        cycles = 0
        started_at = time.monotonic()
        while time.monotonic() - started_at < 1.0:  # a second of churn: the rate shows
            assert (await churner.register("churner"))["type"] == "registered"
            assert (await churner.request({"type": "unregister"}))["type"] == "unregistered"
            cycles += 1
        elapsed = time.monotonic() - started_at
        # The last change (churner left) reaches the watcher, late at worst by one token.
        await wait_until(lambda: "churner" not in watcher.online, DEADLINE)
        await wait_until(lambda: server.core.stats.presence_coalesced > 0, DEADLINE)
        counting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await counting
        window = pushes[-1] - started_at if pushes else 0.0
        assert len(pushes) <= PUSH_BURST + PUSH_RATE * max(window, elapsed) + 2
        assert cycles > 100 and len(pushes) < cycles / 4  # changes by the hundred; few pushes
        assert server.core.stats.presence_coalesced >= 2 * cycles - 2 * len(pushes)
        await server.close()

    run(scenario())
