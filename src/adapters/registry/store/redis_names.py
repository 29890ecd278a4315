"""Names bound to identity keys in the Redis every registry of a network shares (design §4): the
first key wins across registries, and a lookalike is refused in the same atomic step (the
scripts of :mod:`~chinwag.adapters.registry.store.redis_scripts`).

Redis is the truth; each registry keeps a bounded local cache of the bindings it has seen, for
:meth:`RedisNameStore.cached_key` (no I/O). The cache is only a hint: a binding can be released
by the operator on any registry, so every read of the store (:meth:`~RedisNameStore.key_of`,
:meth:`~RedisNameStore.bind`) corrects it, a release here drops it, and the release every
registry hears on ``cw:released`` drops it through :meth:`~RedisNameStore.forget` (the bus
passes ``ReleasedNote`` on). A binding lost in a Redis crash (the last second of writes under
``appendfsync everysec``) shows the same way: ``key_of`` reads None and its owner binds it again.

Any Redis failure (refused, reset, timed out, still loading its AOF after a restart) is a
:class:`~chinwag.application.registry.ports.errors.StoreUnavailable` of the call that met it.
The client reconnects by itself at the next call: redis-py's pool checks a connection as it hands
it out and replaces one the peer closed (a restart closes them all), a command whose connection
breaks under it is retried twice on a new one (:data:`RETRIES`), and ``register_script``'s
scripts are loaded again when a restarted Redis says ``NOSCRIPT``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from chinwag.adapters.registry.store import redis_scripts as scripts
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult
from chinwag.domain.user import username_skeleton

log = logging.getLogger(__name__)

CACHE_SIZE: Final = 200_000
"""Bindings a registry remembers for :meth:`RedisNameStore.cached_key` (about 150 bytes each),
the most recently used first: a network's names are many more than one registry's clients,
and a name not cached costs a bind attempt instead of a read, the same one round trip."""
TIMEOUT: Final = 2.0
"""Seconds to connect to Redis or wait for one answer, before the call is unavailable (the
use case answers ``busy``) rather than holding its client."""
RETRIES: Final = 2
"""New connections tried after a connection error (a reset mid-command, ``LOADING``), 10 then
20 ms apart: short, so a Redis that is away answers ``busy`` at once (redis-py's default, 10
tries up to a second apart, would hold the client for seconds). A timeout is not retried."""
POOL_SIZE: Final = 512
"""Connections one registry may hold to Redis for commands at once (the bus's subscriber is one
more). redis-py's default, 100, refuses the 101st command in flight (``Too many connections``),
which a thousand clients leaving at once reach; its waiting pool cannot be used here, as it
times its wait with ``asyncio.timeout``, which needs a task, and the use cases' first step runs
eagerly, outside one (``eager.py``). Lookups of one loop pass share one connection."""
WAITAOF_TIMEOUT_MS: Final = 500
"""How long a new binding waits for Redis's fsync (Redis ≥ 7.2) before it is answered anyway."""


def redis_client(url: str, timeout: float = TIMEOUT) -> Redis:
    """A client of the network's Redis at ``url`` (``redis://HOST:PORT/DB``) that fails fast
    and reconnects by itself (see the module), with up to :data:`POOL_SIZE` connections."""
    return Redis.from_url(
        url,
        max_connections=POOL_SIZE,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), RETRIES, (RedisConnectionError,)),
    )


@contextlib.contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Any failure of Redis in the block as a StoreUnavailable saying what could not be done."""
    try:
        yield
    except (RedisError, OSError) as exc:  # OSError covers a socket error redis-py let through
        raise StoreUnavailable(f"cannot {what}: Redis: {exc}") from exc


class RedisNameStore:
    """A :class:`~chinwag.application.registry.ports.name_store.NameStore` on ``client``
    (closed by :meth:`close` only if ``owns_client``: the container shares one client among the
    Redis adapters; it must not decode responses, keys are bytes). :meth:`from_url` makes one
    with its own client, as :func:`redis_client` does.

    Redis has no names known from version 1: a network on Redis starts from bindings, so
    :meth:`known` is whether a name is bound.
    """

    def __init__(
        self, client: Redis, *, cache_size: int = CACHE_SIZE, owns_client: bool = False
    ) -> None:
        self._redis = client
        self._owns_client = owns_client
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = max(0, cache_size)
        self._bind = client.register_script(scripts.BIND)
        self._lookalike = client.register_script(scripts.LOOKALIKE_OF)
        self._release = client.register_script(scripts.RELEASE)
        self._wait_aof: bool | None = None
        """Whether a write waits for Redis's fsync (``WAITAOF``, Redis ≥ 7.2 with AOF on);
        None until asked (again after a WAITAOF failed)."""
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = TIMEOUT, cache_size: int = CACHE_SIZE
    ) -> RedisNameStore:
        return cls(redis_client(url, timeout), cache_size=cache_size, owns_client=True)

    # -- the cache (no I/O) ----------------------------------------------------------------------

    def cached_key(self, name: str) -> bytes | None:
        return self._cache.get(name)

    def forget(self, name: str) -> None:
        """``name`` was released (``ReleasedNote``: by the operator, on any registry): its
        cached binding is no more."""
        self._cache.pop(name, None)

    def _remember(self, name: str, key: bytes | None) -> None:
        cache = self._cache
        if key is None:
            if cache.pop(name, None) is not None:
                log.info("%s was released by the operator", name)
            return
        cache[name] = key
        cache.move_to_end(name)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

    # -- the port --------------------------------------------------------------------------------

    def _client(self, what: str) -> Redis:
        if self._closed:
            raise StoreUnavailable(f"cannot {what}: the name store is closed")
        return self._redis

    async def key_of(self, name: str) -> bytes | None:
        what = f"read {name}'s binding"
        with unavailable(what):
            raw = await self._client(what).get(scripts.bind_key(name))
        key = None if raw is None else _bytes(raw)
        self._remember(name, key)
        return key

    async def lookalike(self, name: str) -> str | None:
        what = f"look for names like {name}"
        skeleton = username_skeleton(name)
        self._client(what)
        with unavailable(what):
            other = await self._lookalike(
                [scripts.skeleton_key(skeleton)], [name, scripts.BIND_PREFIX]
            )
        return None if other is None else _text(other)

    async def bind(self, name: str, key: bytes) -> BindResult:
        """First key wins and a lookalike of a bound name is refused, in one script; a new
        binding is on Redis's disk before this returns where Redis can say so (≥ 7.2)."""
        what = f"record {name}'s key"
        client = self._client(what)
        keys = [scripts.bind_key(name), scripts.skeleton_key(username_skeleton(name))]
        args: list[str | bytes] = [name, key, scripts.BIND_PREFIX]
        with unavailable(what):
            if await self._should_wait_aof(client):
                async with client.pipeline(transaction=False) as pipe:  # one connection
                    await self._bind(keys, args, client=pipe)
                    pipe.execute_command("WAITAOF", 1, 0, WAITAOF_TIMEOUT_MS)
                    reply, waited = await pipe.execute(raise_on_error=False)
                if isinstance(reply, Exception):
                    raise reply
                self._check_aof(waited, name)
            else:
                reply = await self._bind(keys, args)
        status, value = int(reply[0]), _bytes(reply[1])
        if status == scripts.LOOKALIKE:
            return BindResult(None, _text(value))
        self._remember(name, value)
        if status == scripts.NEW:
            log.debug("%s bound in Redis", name)
        return BindResult(value)

    async def known(self, name: str) -> bool:
        """Whether ``name`` is bound, as Redis has it now (a release elsewhere shows at once)."""
        what = f"look {name} up"
        with unavailable(what):
            return bool(await self._client(what).exists(scripts.bind_key(name)))

    async def release(self, name: str) -> bool:
        """Delete ``name``'s binding and its skeleton entry, and tell every registry on
        ``cw:released`` (the operator's ``release``, from any registry or none)."""
        what = f"release {name}"
        self._client(what)
        keys = [scripts.bind_key(name), scripts.skeleton_key(username_skeleton(name))]
        with unavailable(what):
            had = await self._release(keys, [name, scripts.RELEASED_CHANNEL])
        self._cache.pop(name, None)
        return bool(had)

    async def close(self) -> None:
        """Unavailable from now on; the client closed if it is this store's."""
        if self._closed:
            return
        self._closed = True
        self._cache.clear()
        if self._owns_client:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.aclose()

    # -- durability ------------------------------------------------------------------------------

    async def _should_wait_aof(self, client: Redis) -> bool:
        """Whether Redis can fsync a write before answering (asked once: ``INFO``)."""
        if self._wait_aof is None:
            server = await client.info("server")
            persistence = await client.info("persistence")
            version = _version(str(server.get("redis_version", "0")))
            self._wait_aof = version >= (7, 2) and int(persistence.get("aof_enabled", 0)) == 1
            if not self._wait_aof:
                log.info(
                    "Redis %s with AOF %s: a new binding is on disk within a second, not "
                    "before it is answered (WAITAOF needs Redis 7.2 and appendonly yes)",
                    server.get("redis_version"),
                    "on" if int(persistence.get("aof_enabled", 0)) else "off",
                )
        return self._wait_aof

    def _check_aof(self, waited: Any, name: str) -> None:
        """The WAITAOF answer: a failure is logged and asked about again next time (the binding
        holds in Redis either way; only its durability in a crash is in doubt)."""
        if isinstance(waited, Exception):
            log.warning("WAITAOF failed after binding %s: %s", name, waited)
            self._wait_aof = None
        elif not waited or int(waited[0]) < 1:
            log.warning("%s is bound but not yet on Redis's disk", name)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _version(text: str) -> tuple[int, ...]:
    """``7.0.15`` → ``(7, 0, 15)``; the leading digits of each part only."""
    parts: list[int] = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
