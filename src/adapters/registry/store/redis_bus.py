"""The bus and the relay router of registries that share one Redis (design §4): presence changes
on ``cw:p:{name}``, notes to one registry on ``cw:to:{rid}``, operator releases on
``cw:released``.

:class:`RedisPresenceBus` holds one connection of its own in subscriber mode, **not** redis-py's
``PubSub``: that one reconnects and re-subscribes by itself inside a read, so a registry would
never learn that it was deaf for a while and missed changes. Here the bus keeps its own followed
set, notices the loss (an error, or no answer to a health ``PING``), reconnects with backoff
(0.1 s doubling to 2 s), subscribes everything again, and only then calls ``on_resync`` so the
fan-out re-reads what it follows. ``follow``/``unfollow``/``follow_all`` return once Redis
confirmed them (a ``PING`` sent after the command is answered after it: replies keep their
order); while Redis is away they only update the set, which the next connection subscribes.

One ``PUBLISH`` reaches a registry subscribed to ``cw:p:{name}`` *and* to ``cw:p:*`` twice;
the reader tracks the pattern from Redis's own confirmations, in stream order, and drops the
plain copy while the pattern is on, so each change is heard once.

The payloads (the presence and name scripts publish them too, so they are the contract):

- ``cw:p:{name}``: ``{"n": name, "on": 1|0, "e": epoch, "r": registry}`` (``on`` may also be a
  JSON boolean);
- ``cw:to:{rid}``: ``{"t": "kick", "n": name, "e": epoch, "code": "replaced"|"released"}`` or
  ``{"t": "offer", "n", "e", "sid", "from", "timeout", "via": [url, ...]}``;
- ``cw:released``: the released name, bare (``{"n": name}`` is read too).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chinwag.adapters.registry.store.redis_messages import (
    PRESENCE_PATTERN,
    PRESENCE_PREFIX,
    RELEASED_CHANNEL,
    decode_change,
    decode_note,
    decode_released,
    encode_change,
    encode_note,
    notes_channel,
    presence_channel,
)
from chinwag.application.registry.ports.presence_bus import (
    Note,
)
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.presence import PresenceChange

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 2.0
HEALTH_EVERY = 5.0
"""Seconds of silence after which the bus PINGs; no answer within as long again is a loss."""
CONNECT_TIMEOUT = 5.0
"""Seconds one connection attempt may take (when the client's URL sets none)."""
CHANNELS_PER_COMMAND = 1_000

__all__ = [
    "PRESENCE_PATTERN",
    "PRESENCE_PREFIX",
    "RELEASED_CHANNEL",
    "RedisPresenceBus",
    "decode_change",
    "decode_note",
    "decode_released",
    "encode_change",
    "encode_note",
    "notes_channel",
    "presence_channel",
]


# -- the bus -----------------------------------------------------------------------------------


class RedisPresenceBus:
    """A :class:`~chinwag.application.registry.ports.presence_bus.PresenceBus` of registry
    ``registry`` over the Redis that ``redis`` (a client, used for ``PUBLISH``) points at. The
    subscriber connection is its own, made from the client's settings. :meth:`start` before
    use, :meth:`close` at the end."""

    def __init__(
        self,
        redis: Redis,
        registry: str,
        *,
        stats: RegistryStats | None = None,
        health_every: float = HEALTH_EVERY,
    ) -> None:
        self.registry = registry
        self._redis = redis
        self._stats = stats
        self._health_every = health_every
        self._followed: set[str] = set()
        self._all = False
        self._on_change: Callable[[PresenceChange], None] | None = None
        self._on_note: Callable[[Note], None] | None = None
        self._on_resync: Callable[[], None] | None = None
        self._conn: AbstractConnection | None = None
        """The connection commands go to (set once its subscriptions were sent)."""
        self._fences: dict[bytes, asyncio.Future[bool]] = {}
        self._tokens = itertools.count()
        self._pattern_on = False
        """Whether Redis confirmed ``cw:p:*`` on the current connection (stream order)."""
        self._heard_once = False
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe; return once subscribed. While Redis cannot be reached this
        keeps trying (bound it with ``asyncio.wait_for`` if the caller must give up)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"redis-bus-{self.registry}")
        up = asyncio.ensure_future(self._up.wait())
        try:  # or closed meanwhile
            await asyncio.wait({up, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()

    async def close(self) -> None:
        """Stop listening and drop the connection (nothing more is heard)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._on_change = self._on_note = self._on_resync = None

    @property
    def up(self) -> bool:
        """Whether the bus is subscribed now (False while Redis is away)."""
        return self._up.is_set()

    # -- the port ------------------------------------------------------------------------------

    async def publish(self, change: PresenceChange) -> None:
        """``PUBLISH`` ``change`` (the Redis store's scripts do this themselves). While Redis is
        away the change is lost to the others: the store republishes when it is back."""
        try:
            await self._redis.publish(presence_channel(change.name), encode_change(change))
        except (RedisError, OSError) as error:
            log.warning("presence of %s not published (%s)", change.name, error)
            return
        self._count("out")

    async def follow(self, names: Iterable[str]) -> None:
        names = list(names)
        self._followed.update(names)
        await self._command("SUBSCRIBE", [presence_channel(name) for name in names])

    async def unfollow(self, names: Iterable[str]) -> None:
        names = list(names)
        self._followed.difference_update(names)
        await self._command("UNSUBSCRIBE", [presence_channel(name) for name in names])

    async def follow_all(self, on: bool) -> None:
        self._all = on
        await self._command("PSUBSCRIBE" if on else "PUNSUBSCRIBE", [PRESENCE_PATTERN])

    def listen(
        self,
        on_change: Callable[[PresenceChange], None],
        on_note: Callable[[Note], None],
        on_resync: Callable[[], None],
    ) -> None:
        self._on_change, self._on_note, self._on_resync = on_change, on_note, on_resync

    # -- commands ------------------------------------------------------------------------------

    async def _command(self, command: str, channels: Sequence[str]) -> None:
        """Send ``command`` for ``channels`` and wait for Redis to have done it; nothing to do
        while the connection is down (the next one subscribes the followed set)."""
        conn = self._conn
        if conn is None or not channels:
            return
        commands: list[list[str | bytes]] = [
            [command, *channels[i : i + CHANNELS_PER_COMMAND]]
            for i in range(0, len(channels), CHANNELS_PER_COMMAND)
        ]
        fence = self._fence_token()
        commands.append(["PING", fence])
        done = self._fences[fence] = asyncio.get_running_loop().create_future()
        try:
            # One write: nothing another coroutine sends can land between these commands.
            await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            await asyncio.wait_for(done, 2 * self._health_every)
        except (RedisError, OSError, TimeoutError) as error:
            log.info(
                "bus %s: %s not confirmed (%s); the next connection does it",
                self.registry,
                command,
                error,
            )
        finally:
            self._fences.pop(fence, None)

    def _fence_token(self) -> bytes:
        return f"fence:{next(self._tokens)}".encode()

    # -- the connection ------------------------------------------------------------------------

    def _connection(self) -> AbstractConnection:
        """A connection like the client's, without its retries (a loss must reach us), in
        RESP2 with bytes (the replies parsed below), without the pool's maintenance hooks."""
        pool = self._redis.connection_pool
        kwargs = {
            key: value
            for key, value in pool.connection_kwargs.items()
            if not key.startswith(("maint", "oss_cluster", "orig_", "himport"))
        }
        kwargs.update(
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            decode_responses=False,
            health_check_interval=0,
        )
        if kwargs.get("socket_connect_timeout") is None:
            kwargs["socket_connect_timeout"] = CONNECT_TIMEOUT
        if kwargs.get("socket_timeout") is None:
            kwargs["socket_timeout"] = 2 * self._health_every
        return pool.connection_class(**kwargs)

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        lost_logged = False
        while not self._closing:
            conn = self._connection()
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure of the link is a loss
                if self._up.is_set() or not lost_logged:
                    log.warning("bus %s lost Redis (%s); reconnecting", self.registry, error)
                    lost_logged = True
            finally:
                was_up = self._up.is_set()
                self._lose()
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            if was_up:
                delay = BACKOFF_FIRST
                lost_logged = False
            await asyncio.sleep(delay)
            delay = min(2 * delay, BACKOFF_MAX)

    def _lose(self) -> None:
        self._conn = None
        if self._stats is not None:
            self._stats.redis_up = 0
        self._pattern_on = False
        self._up.clear()
        for fence in self._fences.values():
            if not fence.done():
                fence.set_result(False)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Subscribe everything on ``conn``, then read it until it fails."""
        channels = [notes_channel(self.registry), RELEASED_CHANNEL]
        channels += [presence_channel(name) for name in self._followed]
        commands: list[list[str | bytes]] = [
            ["SUBSCRIBE", *channels[i : i + CHANNELS_PER_COMMAND]]
            for i in range(0, len(channels), CHANNELS_PER_COMMAND)
        ]
        if self._all:
            commands.append(["PSUBSCRIBE", PRESENCE_PATTERN])
        ready = self._fence_token()
        commands.append(["PING", ready])
        # Commands of follow() and the like go to this connection from now on, after these:
        # a name followed from here on is subscribed by them, one followed before by these.
        self._conn = conn
        await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        await self._read(conn, ready)

    async def _read(self, conn: AbstractConnection, ready: bytes) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            reply = await conn.read_response(timeout=self._health_every, disconnect_on_error=False)
            now = loop.time()
            if reply is None:  # silence: ask, and give up if the last question got no answer
                if now - heard > 2 * self._health_every:
                    raise ConnectionError(f"no answer from Redis for {now - heard:.1f} s")
                await conn.send_command("PING", b"health", check_health=False)
                continue
            heard = now
            if isinstance(reply, list) and reply:
                self._take(reply, ready)

    def _take(self, reply: list[Any], ready: bytes) -> None:
        kind = reply[0]
        if kind == b"message":
            channel, data = bytes(reply[1]), reply[2]
            if channel.startswith(b"cw:p:"):
                if not self._pattern_on:  # else its pmessage copy follows: hear that one
                    self._change(data)
            elif channel == RELEASED_CHANNEL.encode():
                self._note(data, decode_released)
            else:
                self._note(data, decode_note)
        elif kind == b"pmessage":
            self._change(reply[3])
        elif kind == b"psubscribe":
            self._pattern_on = True
        elif kind == b"punsubscribe":
            self._pattern_on = False
        elif kind == b"pong":
            token = bytes(reply[1])
            if token == ready:
                self._ready()
            fence = self._fences.get(token)
            if fence is not None and not fence.done():
                fence.set_result(True)

    def _ready(self) -> None:
        """Every subscription of a new connection is in effect: tell the listeners to rebuild
        if an earlier connection was lost (what happened meanwhile was not heard)."""
        self._up.set()
        if self._stats is not None:
            self._stats.redis_up = 1
        if not self._heard_once:
            self._heard_once = True
            return
        log.info("bus %s: Redis is back, subscriptions renewed", self.registry)
        if self._stats is not None:
            self._stats.redis_reconnects += 1
        if self._on_resync is not None:
            try:
                self._on_resync()
            except Exception:
                log.exception("the resync listener of bus %s failed", self.registry)

    def _change(self, data: bytes) -> None:
        try:
            change = decode_change(data)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("bus %s: a bad presence payload %r (%s)", self.registry, data, error)
            return
        if not (self._all or change.name in self._followed):
            return
        self._count("in")
        if self._on_change is not None:
            try:
                self._on_change(change)
            except Exception:
                log.exception("the listener of bus %s failed on %r", self.registry, change)

    def _note(self, data: bytes, decode: Callable[[bytes], Note]) -> None:
        try:
            note = decode(data)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("bus %s: a bad note %r (%s)", self.registry, data, error)
            return
        self._count("in")
        if self._on_note is not None:
            try:
                self._on_note(note)
            except Exception:
                log.exception("the listener of bus %s failed on %r", self.registry, note)

    def _count(self, direction: str) -> None:
        if self._stats is not None:
            self._stats.bus_messages[direction] += 1


# -- the router --------------------------------------------------------------------------------
