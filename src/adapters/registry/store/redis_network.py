"""The one fact every registry of a network on Redis must agree on: the registry key its clients
pin (design §4, ``cw:net``). A client that moves between registries, or joins a relayed session
on another one (``via``), expects the same key there, so a registry started with another key
must refuse to join rather than be refused by every client."""

from __future__ import annotations

from redis.asyncio import Redis

from chinwag.adapters.registry.store.redis_names import unavailable

NETWORK_KEY = "cw:net"
"""Hash: ``key`` (the network's registry identity key, set by the first registry), ``schema``."""
SCHEMA = b"1"
"""The layout of the ``cw:`` keys this code reads and writes."""


class OtherNetwork(Exception):
    """The Redis belongs to a network of registries with another key (or another layout)."""


async def join_network(client: Redis, key: bytes) -> bool:
    """Claim the network on ``client`` for registry key ``key`` if nobody has (True), or check
    that it is this one's (False: joined an existing network). Raises :class:`OtherNetwork` if
    it is another's; StoreUnavailable if Redis cannot be reached."""
    with unavailable("read the network's registry key"):
        async with client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(NETWORK_KEY, "key", key)
            pipe.hsetnx(NETWORK_KEY, "schema", SCHEMA)
            pipe.hmget(NETWORK_KEY, ["key", "schema"])
            claimed, _, (held, schema) = await pipe.execute()
    if held != key:
        raise OtherNetwork(
            "this Redis serves registries with another key; copy their registry.key into this "
            "registry's data folder"
        )
    if schema != SCHEMA:
        raise OtherNetwork(f"this Redis holds a network of layout {schema!r}, not {SCHEMA!r}")
    return bool(claimed)
