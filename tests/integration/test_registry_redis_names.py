"""The Redis name store's own behaviour, beyond the contract every store keeps
(``test_registry_name_store_contract.py``): a crash of Redis, a Redis that hangs, the release
channel every registry hears, the bounded cache, a stale skeleton entry and the WAITAOF
fallback. Against a real ``redis-server`` (``tests.services``), never a mock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chinwag.adapters.registry.store import redis_scripts
from chinwag.adapters.registry.store.redis_names import RedisNameStore, redis_client
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult
from chinwag.domain.user import username_skeleton
from tests.services import RedisServer

K1 = b"\x01" * 32
K2 = b"\x02" * 32
LOOKALIKE = "\u0251lice"


@contextlib.asynccontextmanager
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.close)


@contextlib.asynccontextmanager
async def name_store(server: RedisServer, timeout: float = 2.0) -> AsyncIterator[RedisNameStore]:
    store = RedisNameStore.from_url(server.url, timeout=timeout)
    try:
        yield store
    finally:
        await store.close()


def test_a_store_outlives_a_redis_crash_and_reconnects_by_itself(tmp_path: Path) -> None:
    """SIGKILL (no clean shutdown): calls are unavailable while Redis is away, then the same
    store answers again, with its bindings read back from the AOF and its scripts reloaded."""

    async def scenario() -> None:
        async with redis_server(tmp_path) as server, name_store(server, timeout=1.0) as store:
            assert await store.bind("alice", K1) == BindResult(K1)
            await asyncio.to_thread(server.kill)
            with pytest.raises(StoreUnavailable):
                await store.bind("bob", K2)
            with pytest.raises(StoreUnavailable):
                await store.key_of("alice")
            await asyncio.to_thread(server.restart)
            assert await store.key_of("alice") == K1
            assert await store.bind("alice", K2) == BindResult(K1)  # NOSCRIPT: loaded again
            assert await store.bind(LOOKALIKE, K2) == BindResult(None, "alice")
            assert await store.bind("bob", K2) == BindResult(K2)

    asyncio.run(scenario())


def test_a_hung_redis_is_unavailable_after_the_timeout_not_forever(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with redis_server(tmp_path) as server, name_store(server, timeout=0.3) as store:
            await store.bind("alice", K1)
            assert server.process is not None
            pid = server.process.pid
            os.kill(pid, signal.SIGSTOP)
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(StoreUnavailable):
                    await store.key_of("alice")
                assert loop.time() - started < 3.0
            finally:
                os.kill(pid, signal.SIGCONT)
            assert await store.key_of("alice") == K1

    asyncio.run(scenario())


def test_a_release_is_published_to_every_registry_and_forget_drops_the_cache(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with redis_server(tmp_path) as server:
            listener = redis_client(server.url)
            pubsub = listener.pubsub()
            try:
                await pubsub.subscribe(redis_scripts.RELEASED_CHANNEL)
                async with name_store(server) as here, name_store(server) as there:
                    await here.bind("alice", K1)
                    assert await there.key_of("alice") == K1
                    assert await here.release("alice") is True
                    message = None
                    async with asyncio.timeout(5):
                        while message is None:
                            message = await pubsub.get_message(
                                ignore_subscribe_messages=True, timeout=1.0
                            )
                    assert message["data"] == b"alice"
                    assert there.cached_key("alice") == K1  # until its bus hears the release
                    there.forget("alice")
                    assert there.cached_key("alice") is None
                    assert await here.release("alice") is False  # nothing published
                    assert await pubsub.get_message(True, timeout=0.2) is None
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await listener.aclose()

    asyncio.run(scenario())


def test_the_cache_is_bounded_and_a_miss_costs_only_a_bind(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with redis_server(tmp_path) as server:
            store = RedisNameStore.from_url(server.url, cache_size=2)
            try:
                for name in ("ann", "bea", "cat"):
                    await store.bind(name, K1)
                assert store.cached_key("ann") is None
                assert store.cached_key("bea") == store.cached_key("cat") == K1
                assert await store.bind("ann", K2) == BindResult(K1)  # still first key wins
                assert store.cached_key("ann") == K1
                assert store.cached_key("bea") is None  # the least recently used went
            finally:
                await store.close()

    asyncio.run(scenario())


def test_a_stale_skeleton_entry_refuses_nobody(tmp_path: Path) -> None:
    """An index entry naming a name that is not bound (hand-edited, or left by a failure)."""

    async def scenario() -> None:
        async with redis_server(tmp_path) as server, name_store(server) as store:
            client = redis_client(server.url)
            try:
                await client.set(redis_scripts.skeleton_key(username_skeleton("alice")), "alice")
            finally:
                await client.aclose()
            assert await store.lookalike(LOOKALIKE) is None
            assert await store.bind(LOOKALIKE, K1) == BindResult(K1)
            assert await store.bind("alice", K2) == BindResult(None, LOOKALIKE)

    asyncio.run(scenario())


def test_a_failed_waitaof_is_logged_and_the_binding_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The path of Redis ≥ 7.2, forced: on a Redis without WAITAOF the command fails, the
    binding made in the same pipeline holds, and the next bind asks Redis again (INFO)."""

    async def scenario() -> None:
        async with redis_server(tmp_path) as server, name_store(server) as store:
            if server.version >= (7, 2):
                assert await store.bind("zed", K1) == BindResult(K1)  # the real WAITAOF
                assert "WAITAOF failed" not in caplog.text
                return
            store._wait_aof = True  # as if the version check said yes
            assert await store.bind("alice", K1) == BindResult(K1)
            assert "WAITAOF failed" in caplog.text
            assert store._wait_aof is None
            assert await store.bind("alice", K2) == BindResult(K1)
            assert store._wait_aof is False
            assert await store.key_of("alice") == K1

    asyncio.run(scenario())


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with redis_server(tmp_path) as server:
            store = RedisNameStore.from_url(server.url)
            await store.bind("alice", K1)
            await store.close()
            await store.close()
            for call in (store.key_of("alice"), store.known("alice"), store.bind("bob", K2)):
                with pytest.raises(StoreUnavailable):
                    await call

    asyncio.run(scenario())
