"""The Redis kit of the presence-store contract and what the Redis-only presence tests share: a
real ``redis-server`` (``tests.services.RedisServer``), a store per registry on it, and a
listener that hears what the stores publish.

The listener (:class:`ChannelListener`) is a minimal
:class:`~chinwag.application.registry.ports.presence_bus.PresenceBus` over the design's channels
(``cw:p:{name}``, decoded by ``redis_presence_scripts.decode_change``), written for these tests
so the store is tested on its own, without the Redis bus (``store/redis_bus.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chinwag.adapters.registry.store.redis_presence import RedisPresenceStore
from chinwag.adapters.registry.store.redis_presence_scripts import (
    decode_change,
    presence_channel,
)
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.presence_bus import Note, PresenceBus
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.domain.registry.presence import PresenceChange
from tests.services import RedisServer

IDLE_TIMEOUT = 30.0
"""Seconds a registry of the contract tests stays alive after one heartbeat: longer than any
test, so nothing expires by itself there."""
WAIT = 5.0


def client(url: str) -> Redis:
    """A client that fails at once when Redis is away (no retries), as the tests want to see."""
    return Redis.from_url(
        url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1.0, socket_timeout=2.0
    )


class ChannelListener:
    """Hears ``cw:p:{name}`` of the names followed, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self._client = client(url)
        self._pubsub: PubSub = self._client.pubsub()
        self._on_change: Callable[[PresenceChange], None] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, change: PresenceChange) -> None:
        raise NotImplementedError("the stores publish")

    async def follow(self, names: Iterable[str]) -> None:
        """Subscribed once Redis confirmed every channel (so a publish after this is heard)."""
        channels = [presence_channel(name) for name in names]
        if not channels:
            return
        await self._pubsub.subscribe(*channels)
        confirmed = 0
        deadline = asyncio.get_running_loop().time() + WAIT
        while confirmed < len(channels):
            assert asyncio.get_running_loop().time() < deadline, "subscriptions not confirmed"
            message = await self._pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "subscribe":
                confirmed += 1
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def unfollow(self, names: Iterable[str]) -> None:
        await self._pubsub.unsubscribe(*(presence_channel(name) for name in names))

    async def follow_all(self, on: bool) -> None:
        raise NotImplementedError("not needed by the store's tests")

    def listen(
        self,
        on_change: Callable[[PresenceChange], None],
        on_note: Callable[[Note], None],
        on_resync: Callable[[], None],
    ) -> None:
        self._on_change = on_change

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            on_change = self._on_change
            if message is not None and message["type"] == "message" and on_change is not None:
                on_change(decode_change(message["data"]))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            await self._client.aclose()


class RedisNetwork:
    """One ``redis-server`` and the stores and listeners made on it (all closed by
    :meth:`close`)."""

    def __init__(self, redis: RedisServer) -> None:
        self.redis = redis
        self._clients: list[Redis] = []
        self._listeners: list[ChannelListener] = []

    def store(
        self,
        registry: str,
        idle_timeout: float = IDLE_TIMEOUT,
        on_gone: Callable[[], None] | None = None,
    ) -> RedisPresenceStore:
        redis = client(self.redis.url)
        self._clients.append(redis)
        return RedisPresenceStore(redis, registry, idle_timeout, (), on_gone)

    def listener(self) -> ChannelListener:
        listener = ChannelListener(self.redis.url)
        self._listeners.append(listener)
        return listener

    async def close(self) -> None:
        for listener in self._listeners:
            await listener.close()
        for redis in self._clients:
            with contextlib.suppress(Exception):
                await redis.aclose()


@contextlib.asynccontextmanager
async def redis_network(tmp_path: Path) -> AsyncIterator[RedisNetwork]:
    redis = await asyncio.to_thread(RedisServer(tmp_path / "redis").start)
    network = RedisNetwork(redis)
    try:
        yield network
    finally:
        await network.close()
        await asyncio.to_thread(redis.close)


class RedisWorld:
    """The contract's world on Redis: registry ``r1``'s store, kept alive by one heartbeat
    (its entries count only while ``cw:reg:r1`` exists), and a listener for ``r2``."""

    def __init__(self, network: RedisNetwork, store: RedisPresenceStore) -> None:
        self._network = network
        self._store = store
        self._listener = network.listener()

    def store(self) -> PresenceStore:
        return self._store

    def listener(self) -> PresenceBus:
        return self._listener

    async def fail(self) -> bool:
        await asyncio.to_thread(self._network.redis.kill)
        return True


class RedisKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[RedisWorld]:
        async with redis_network(tmp_path) as network:
            store = network.store("r1")
            await store.heartbeat()
            yield RedisWorld(network, store)


async def answering(store: PresenceStore) -> int:
    """The store's count once it answers again (Redis restarted: the first calls may find
    connections that died with it)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        try:
            return await store.count()
        except StoreUnavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)
