"""The names of a network in Redis: its keys, its release channel and the Lua scripts that change
them (design §4). Scripts, because the skeleton index must be read and written in the same
atomic step as the binding: two registries binding ``alice`` and ``ɑlice`` at once must not both
win, and ``SET NX`` on one key cannot see the other.

The scripts compute the keys of other names (``cw:bind:`` + the name a skeleton entry holds),
which a Redis Cluster would refuse: the network runs on one Redis instance (or Sentinel).

Keys:

- ``cw:bind:{name}``: string, the identity key (32 bytes) ``name`` is bound to; no expiry.
- ``cw:skel:{skeleton}``: string, the bound name with that UTS #39 skeleton; no expiry.

Channel ``cw:released``: the name (UTF-8) an operator released, published by :data:`RELEASE`;
each registry's bus hears it (``ReleasedNote``) and forgets its cached binding.
"""

from __future__ import annotations

from typing import Final

from chinwag.adapters.registry.store.redis_messages import RELEASED_CHANNEL as RELEASED_CHANNEL

PREFIX: Final = "cw:"
BIND_PREFIX: Final = PREFIX + "bind:"
SKELETON_PREFIX: Final = PREFIX + "skel:"


def bind_key(name: str) -> str:
    """The key holding ``name``'s identity key."""
    return BIND_PREFIX + name


def skeleton_key(skeleton: str) -> str:
    """The key holding the bound name with ``skeleton``."""
    return SKELETON_PREFIX + skeleton


BOUND: Final = 0
""":data:`BIND` found ``name`` bound already; the value is its key."""
NEW: Final = 1
""":data:`BIND` bound ``name`` now; the value is the key given."""
LOOKALIKE: Final = 2
""":data:`BIND` bound nothing: the value is the bound name with the same skeleton."""

BIND: Final = """
-- KEYS[1] cw:bind:{name}, KEYS[2] cw:skel:{skeleton}; ARGV[1] name, ARGV[2] key,
-- ARGV[3] the cw:bind: prefix. Returns {status, value} (BOUND, NEW, LOOKALIKE above).
local bound = redis.call('GET', KEYS[1])
if bound then
    return {0, bound}
end
local other = redis.call('GET', KEYS[2])
-- An entry naming a name no longer bound is stale (an index written before a failure, or
-- edited by hand): it refuses nobody.
if other and other ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. other) == 1 then
    return {2, other}
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return {1, ARGV[2]}
"""

LOOKALIKE_OF: Final = """
-- KEYS[1] cw:skel:{skeleton}; ARGV[1] name, ARGV[2] the cw:bind: prefix.
-- The bound name with the skeleton of ARGV[1], other than ARGV[1]; false if none.
local other = redis.call('GET', KEYS[1])
if other and other ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. other) == 1 then
    return other
end
return false
"""

RELEASE: Final = """
-- KEYS[1] cw:bind:{name}, KEYS[2] cw:skel:{skeleton}; ARGV[1] name, ARGV[2] the release
-- channel. Deletes the binding (and the skeleton entry if it is this name's) and tells every
-- registry; returns 1 if name was bound, else 0.
local had = redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then
    redis.call('DEL', KEYS[2])
end
if had == 1 then
    redis.call('PUBLISH', ARGV[2], ARGV[1])
end
return had
"""
