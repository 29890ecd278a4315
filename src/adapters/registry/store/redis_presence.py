"""Who is online in a network of registries sharing one Redis (design §4): the
:class:`~chinwag.application.registry.ports.presence_store.PresenceStore` the registries of one
network have in common.

Each change is one Lua script (``redis_presence_scripts.py``) that writes it and PUBLISHes it on
``cw:p:{name}`` in the same atomic step, so Redis costs one script per change and nothing per
watcher: the registries that follow the name SUBSCRIBEd to its channel (the bus,
``redis_bus.py``), and each tells its own watchers.

Names expire with their registry, not one by one: :meth:`RedisPresenceStore.heartbeat` refreshes
this registry's ``cw:reg:{rid}`` (PEXPIRE ``idle_timeout``) and its zset of names, and every read
ignores the names of a registry whose key is gone. So a registry that was killed stops counting
within ``idle_timeout``; :meth:`RedisPresenceStore.sweep` then deletes its entries and publishes
their leaves (run by whichever live registry removes it from ``cw:regs`` first).

Every Redis failure is raised as ``StoreUnavailable``: the use cases answer ``busy`` and serve
what they hold locally meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chinwag.adapters.registry.store import redis_presence_scripts as lua
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.domain.registry.presence import OnlineEntry

log = logging.getLogger(__name__)

ZSET_LIFE = 3
"""A registry's zset of names lives this many ``idle_timeout``s past its last heartbeat: longer
than its liveness key, so the sweep still finds the names of a registry that died."""
HEARTBEATS_PER_LIFE = 3
"""Heartbeats per ``idle_timeout`` (:meth:`RedisPresenceStore.keep_alive`): two may be lost
before the registry counts as dead."""
SWEEP_EVERY = 1.0
"""Seconds between two looks for dead registries (:meth:`RedisPresenceStore.keep_alive`)."""
REPUBLISH_CHUNK = 1_000
"""Joins in one pipeline of :meth:`RedisPresenceStore.republish`."""


@contextlib.contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Any Redis or socket failure inside, as ``StoreUnavailable``."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"Redis cannot {what}: {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(entry: OnlineEntry) -> list[bytes | str]:
    """The hash of ``entry`` as field/value pairs (None fields absent)."""
    pairs: list[bytes | str] = ["reg", entry.registry, "epoch", entry.epoch, "key", entry.key]
    pairs += ["v", str(entry.version)]
    if entry.host is not None:
        pairs += ["host", entry.host]
    if entry.port is not None:
        pairs += ["port", str(entry.port)]
    if entry.reachable is not None:
        pairs += ["reach", "1" if entry.reachable else "0"]
    return pairs


def _entry(name: str, flat: Sequence[bytes]) -> OnlineEntry | None:
    """The entry of ``name`` from its hash as a flat field/value list (None if empty)."""
    if not flat:
        return None
    fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
    host, port, reach = fields.get("host"), fields.get("port"), fields.get("reach")
    return OnlineEntry(
        name=name,
        key=bytes(fields["key"]),
        host=None if host is None else _text(host),
        port=None if port is None else int(port),
        registry=_text(fields["reg"]),
        epoch=_text(fields["epoch"]),
        version=int(fields["v"]),
        reachable=None if reach is None else reach == b"1",
    )


class RedisPresenceStore:
    """The online set of the network on ``client``, as registry ``registry`` sees and changes
    it. ``idle_timeout`` (seconds) is how long this registry counts as alive after a heartbeat;
    ``urls`` are its advertised URLs (kept in ``cw:reg:{rid}``). ``on_gone`` is called when a
    heartbeat finds this registry's key gone although it was made before (a pause longer than
    the timeout, or a Redis that came back empty): its names may have been swept, so the caller
    republishes them.

    ``client`` must not decode responses (keys are 32 raw bytes). It belongs to the caller,
    who closes it.
    """

    def __init__(
        self,
        client: Redis,
        registry: str,
        idle_timeout: float,
        urls: Sequence[str] = (),
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the presence store needs a Redis client without decode_responses")
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        self.registry = registry
        self.idle_timeout = idle_timeout
        self._client = client
        self._urls = ",".join(urls)
        self.on_gone = on_gone
        """Called when the store lost this registry (a caller may set it after making it)."""
        self._ttl_ms = max(1, round(idle_timeout * 1000))
        self._zset_ttl_ms = self._ttl_ms * ZSET_LIFE
        self._started = str(int(time.time()))
        self._beaten = False
        self._online_key = lua.online_key(registry)
        self._registry_key = lua.registry_key(registry)
        self._join = client.register_script(lua.JOIN)
        self._leave = client.register_script(lua.LEAVE)
        self._set_reachable = client.register_script(lua.SET_REACHABLE)
        self._get = client.register_script(lua.GET)
        self._prefix = client.register_script(lua.PREFIX_SEARCH)
        self._count = client.register_script(lua.COUNT)
        self._heartbeat = client.register_script(lua.HEARTBEAT)
        self._sweep = client.register_script(lua.SWEEP)
        self._gets: dict[str, list[asyncio.Future[OnlineEntry | None]]] = {}
        """Names asked for in this loop pass, and who waits for each (one ``get_many``)."""
        self._getting: set[asyncio.Task[None]] = set()

    def advertise(self, urls: Sequence[str]) -> None:
        """``urls`` go in ``cw:reg:{rid}`` from the next heartbeat on (a registry knows them
        once it listens on a port the OS chose)."""
        self._urls = ",".join(urls)

    # -- the port --------------------------------------------------------------------------------

    def _join_args(self, entry: OnlineEntry, republish: bool) -> tuple[list[str], list[Any]]:
        if entry.registry != self.registry:
            raise ValueError(f"{entry.name}: an entry of {entry.registry}, not {self.registry}")
        keys = [lua.entry_key(entry.name), self._online_key]
        args: list[Any] = [entry.name, self.registry, entry.epoch, self._zset_ttl_ms]
        args += ["1" if republish else "0", *_fields(entry)]
        return keys, args

    async def join(self, entry: OnlineEntry) -> OnlineEntry | None:
        """Hold ``entry.name`` as ``entry`` (one of this registry's) and publish the join; the
        entry replaced if its registry is alive (a dead one's entry is no holder to end)."""
        keys, args = self._join_args(entry, republish=False)
        with _unavailable(f"sign {entry.name} in"):
            reply = await self._join(keys, args)
        return _entry(entry.name, reply[1:])

    async def leave(self, name: str, epoch: str) -> bool:
        with _unavailable(f"sign {name} out"):
            left = await self._leave([lua.entry_key(name)], [name, epoch])
        return bool(left)

    async def get(self, name: str) -> OnlineEntry | None:
        """One name's entry. The ``get`` calls of one loop pass (the lookups of many clients,
        a client's lookups of a whole group) share one round trip: one ``get_many``."""
        future: asyncio.Future[OnlineEntry | None] = asyncio.get_running_loop().create_future()
        waiting = self._gets.setdefault(name, [])
        waiting.append(future)
        if len(self._gets) == 1 and len(waiting) == 1:
            asyncio.get_running_loop().call_soon(self._send_gets)
        return await future

    def _send_gets(self) -> None:
        gets, self._gets = self._gets, {}
        task = asyncio.get_running_loop().create_task(self._answer_gets(gets))
        self._getting.add(task)
        task.add_done_callback(self._getting.discard)

    async def _answer_gets(self, gets: dict[str, list[asyncio.Future[OnlineEntry | None]]]) -> None:
        waiting = [future for futures in gets.values() for future in futures]
        try:
            entries = await self.get_many(gets)
        except asyncio.CancelledError:
            for future in waiting:
                future.cancel()
            raise
        except Exception as exc:  # StoreUnavailable, for every name asked for in that pass
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for name, futures in gets.items():
            for future in futures:
                if not future.done():
                    future.set_result(entries.get(name))

    async def get_many(self, names: Iterable[str]) -> dict[str, OnlineEntry]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        with _unavailable("look names up"):
            replies = await self._get([lua.entry_key(name) for name in wanted])
        found: dict[str, OnlineEntry] = {}
        for name, flat in zip(wanted, replies, strict=True):
            entry = _entry(name, flat)
            if entry is not None:
                found[name] = entry
        return found

    async def set_reachable(self, name: str, epoch: str, reachable: bool | None) -> None:
        value = "" if reachable is None else "1" if reachable else "0"
        with _unavailable(f"note {name}'s reachability"):
            await self._set_reachable([lua.entry_key(name)], [epoch, value])

    async def prefix(self, prefix: str, limit: int, after: str | None) -> tuple[list[str], bool]:
        """Names in code-point order (UTF-8 byte order, which is what ``ZRANGEBYLEX`` sorts
        by); each live registry's zset gives its first ``limit + 1``, merged here."""
        wanted = max(0, limit) + 1
        start = prefix.encode()
        low = b"[" + start
        if after is not None and after.encode() >= start:
            low = b"(" + after.encode()
        high = b"[" + start + b"\xff" if prefix else b"+"  # 0xff is in no UTF-8 text
        with _unavailable("search names"):
            replies = await self._prefix([], [low, high, wanted])
        names = sorted({_text(name) for name in replies})[:wanted]
        return names[:limit], len(names) > limit

    async def count(self) -> int:
        with _unavailable("count names"):
            return int(await self._count())

    async def everyone(self, limit: int) -> list[str]:
        names, _ = await self.prefix("", limit, None)
        return names

    async def heartbeat(self) -> None:
        """Keep this registry (and so its names) alive for ``idle_timeout`` more; call
        ``on_gone`` if its key had expired since the last heartbeat."""
        with _unavailable("keep this registry alive"):
            existed = await self._heartbeat(*self._heartbeat_args())
        if not existed and self._beaten:
            log.warning("registry %s was gone from Redis: republishing", self.registry)
            if self.on_gone is not None:
                self.on_gone()
        self._beaten = True

    def _heartbeat_args(self) -> tuple[list[str], list[Any]]:
        keys = [self._registry_key, self._online_key]
        args: list[Any] = [self.registry, self._ttl_ms, self._zset_ttl_ms, self._urls]
        return keys, [*args, self._started]

    async def republish(self, entries: Sequence[OnlineEntry]) -> None:
        """This registry alive again and ``entries`` held again, epochs kept, pipelined. An
        entry already there is not published again; a name another live registry holds now is
        left to it (it signed in there later) and logged."""
        with _unavailable("republish this registry's names"):
            await self._heartbeat(*self._heartbeat_args())
            self._beaten = True
            for start in range(0, len(entries), REPUBLISH_CHUNK):
                chunk = entries[start : start + REPUBLISH_CHUNK]
                async with self._client.pipeline(transaction=False) as pipe:
                    for entry in chunk:
                        await self._join(*self._join_args(entry, republish=True), client=pipe)
                    replies = await pipe.execute()
                for entry, reply in zip(chunk, replies, strict=True):
                    if _text(reply[0]) == "kept":
                        kept = _entry(entry.name, reply[1:])
                        where = kept.registry if kept is not None else "?"
                        log.warning("%s is held on %s now: not republished", entry.name, where)

    async def close(self) -> None:
        """Nothing to let go: the client is the caller's, and a registry that stops leaves its
        names to expire with it (no leave is published, as for a kill)."""
        return None

    # -- liveness of the network -----------------------------------------------------------------

    async def sweep(self) -> int:
        """Remove the registries of ``cw:regs`` whose key expired, and, for each one this
        registry removed first, its names (their leaves published); the names removed."""
        with _unavailable("sweep dead registries"):
            members = [_text(rid) for rid in await self._client.smembers(lua.REGS)]
            if not members:
                return 0
            async with self._client.pipeline(transaction=False) as pipe:
                for rid in members:
                    pipe.exists(lua.registry_key(rid))
                alive = await pipe.execute()
            removed = 0
            for rid, exists in zip(members, alive, strict=True):
                if exists or not await self._client.srem(lua.REGS, rid):
                    continue
                log.info("registry %s is gone: sweeping its names", rid)
                while True:
                    taken = int(await self._sweep([lua.online_key(rid)], [rid, lua.SWEEP_CHUNK]))
                    if taken < 0:  # alive again meanwhile: it heartbeats itself back in
                        break
                    removed += taken
                    if taken < lua.SWEEP_CHUNK:
                        break
            return removed

    async def keep_alive(self) -> None:
        """Heartbeat every ``idle_timeout / 3`` and sweep every second, until cancelled; a
        Redis away is logged once per loss and tried again on the next turn."""
        loop = asyncio.get_running_loop()
        every = self.idle_timeout / HEARTBEATS_PER_LIFE
        next_beat = loop.time()
        lost = False
        while True:
            try:
                if loop.time() >= next_beat:
                    await self.heartbeat()
                    next_beat = loop.time() + every
                await self.sweep()
                if lost:
                    log.info("Redis is back for registry %s", self.registry)
                lost = False
            except StoreUnavailable as exc:
                if not lost:
                    log.warning("registry %s: %s", self.registry, exc)
                lost = True
            await asyncio.sleep(min(SWEEP_EVERY, every))
