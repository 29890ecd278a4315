"""The Redis keys, channels and Lua scripts of the online set (design §4), shared by
:class:`~chinwag.adapters.registry.store.redis_presence.RedisPresenceStore`, which publishes each
change in the script that makes it, and the Redis bus, which hears them: the channel names and
the message of a change (:func:`encode_change` / :func:`decode_change`) are defined here once.

Keys (prefix ``cw:``): ``cw:reg:{rid}`` a live registry (hash ``urls``, ``started``; expires
``idle_timeout`` after its last heartbeat), ``cw:regs`` the registries that ever heartbeat (the
sweep removes the dead), ``cw:online:{rid}`` the names ``rid`` holds (zset, every score 0, so
``ZRANGEBYLEX`` is prefix search), ``cw:on:{name}`` the entry of an online name (hash ``reg``,
``epoch``, ``key``, ``host``, ``port``, ``v``, ``reach``). An entry counts only while its
registry's ``cw:reg`` exists: names expire with their registry, not one by one.

The scripts compute some of their keys (the old holder's zset, ``cw:reg:{old}``), so they need
one Redis (or Sentinel), not Cluster. Lua never sorts names here: Redis sets ``LC_COLLATE`` from
its environment and Lua compares strings with ``strcoll``; Python merges the byte-ordered
(code-point-ordered) pages instead.
"""

from __future__ import annotations

from chinwag.adapters.registry.store.redis_messages import (  # the formats, also from here
    PRESENCE_PATTERN as PRESENCE_PATTERN,
)
from chinwag.adapters.registry.store.redis_messages import (
    RELEASED_CHANNEL as RELEASED_CHANNEL,
)
from chinwag.adapters.registry.store.redis_messages import (
    decode_change as decode_change,
)
from chinwag.adapters.registry.store.redis_messages import (
    encode_change as encode_change,
)
from chinwag.adapters.registry.store.redis_messages import (
    notes_channel as notes_channel,
)
from chinwag.adapters.registry.store.redis_messages import (
    presence_channel as presence_channel,
)

PREFIX = "cw:"
REGS = f"{PREFIX}regs"
"""Set of the registry ids that heartbeat (members removed by the sweep)."""
SWEEP_CHUNK = 500
"""Names of a dead registry removed by one ``sweep`` call (a script must stay short)."""


def registry_key(rid: str) -> str:
    """``cw:reg:{rid}``: exists while registry ``rid`` is alive."""
    return f"{PREFIX}reg:{rid}"


def online_key(rid: str) -> str:
    """``cw:online:{rid}``: the names ``rid`` holds."""
    return f"{PREFIX}online:{rid}"


def entry_key(name: str) -> str:
    """``cw:on:{name}``: ``name``'s entry."""
    return f"{PREFIX}on:{name}"


# -- Lua ---------------------------------------------------------------------------------------
# Lua helpers shared by the scripts: the prefix, the change message (cjson, as decode_change
# reads it), whether a registry is alive.
_LUA_COMMON = f"""
local P = '{PREFIX}'
local function publish(name, on, epoch, reg)
  return redis.call('PUBLISH', P .. 'p:' .. name,
    cjson.encode({{n = name, on = on, e = epoch, r = reg}}))
end
local function alive(reg)
  return reg and redis.call('EXISTS', P .. 'reg:' .. reg) == 1
end
"""

JOIN = (
    _LUA_COMMON
    + """
-- KEYS[1] cw:on:{name}, KEYS[2] cw:online:{rid}
-- ARGV: name, rid, epoch, zset ttl (ms), republish ('1' or '0'), then field/value pairs.
-- Returns {'joined', the entry replaced as a flat field/value list if its registry is alive}, or
-- {'kept', the entry kept} for a republish that did not replace it.
-- A republish keeps an entry of another live registry (it signed in there later: joins are
-- ordered here) and publishes nothing for an entry that is already this one.
local name, rid, epoch = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGETALL', KEYS[1])
local oldreg, oldepoch
for i = 1, #old, 2 do
  if old[i] == 'reg' then
    oldreg = old[i + 1]
  elseif old[i] == 'epoch' then
    oldepoch = old[i + 1]
  end
end
local live = alive(oldreg)
local republish = ARGV[5] == '1'
if republish and live and oldreg ~= rid and oldepoch ~= epoch then
  return {'kept', unpack(old)}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], 0, name)
if redis.call('PTTL', KEYS[2]) == -1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
if oldreg and oldreg ~= rid then
  redis.call('ZREM', P .. 'online:' .. oldreg, name)
end
if not (republish and live and oldepoch == epoch) then
  publish(name, 1, epoch, rid)
end
if live then
  return {'joined', unpack(old)}
end
return {'joined'}
"""
)

LEAVE = (
    _LUA_COMMON
    + """
-- KEYS[1] cw:on:{name}; ARGV: name, epoch. 1 if it left, 0 if another epoch (or nobody) holds it.
local held = redis.call('HMGET', KEYS[1], 'epoch', 'reg')
if held[1] ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', P .. 'online:' .. held[2], ARGV[1])
publish(ARGV[1], 0, ARGV[2], held[2])
return 1
"""
)

SET_REACHABLE = """
-- KEYS[1] cw:on:{name}; ARGV: epoch, '1' / '0' / '' (not probed).
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'reach')
else
  redis.call('HSET', KEYS[1], 'reach', ARGV[2])
end
return 1
"""

GET = (
    _LUA_COMMON
    + """
-- KEYS: cw:on:{name} each. One flat field/value list per key, {} for an absent name or one whose
-- registry is dead.
local found = {}
for i, key in ipairs(KEYS) do
  local entry = redis.call('HGETALL', key)
  local reg
  for j = 1, #entry, 2 do
    if entry[j] == 'reg' then reg = entry[j + 1] end
  end
  if alive(reg) then found[i] = entry else found[i] = {} end
end
return found
"""
)

PREFIX_SEARCH = (
    _LUA_COMMON
    + """
-- ARGV: min, max (ZRANGEBYLEX bounds), n. Up to n names of each live registry, each registry's
-- in byte order, all together unsorted (the caller merges: no strcoll here).
local found = {}
for _, reg in ipairs(redis.call('SMEMBERS', P .. 'regs')) do
  if alive(reg) then
    local zset = P .. 'online:' .. reg
    local names = redis.call('ZRANGEBYLEX', zset, ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
    for _, name in ipairs(names) do
      found[#found + 1] = name
    end
  end
end
return found
"""
)

COUNT = (
    _LUA_COMMON
    + """
-- The names held by live registries.
local total = 0
for _, reg in ipairs(redis.call('SMEMBERS', P .. 'regs')) do
  if alive(reg) then
    total = total + redis.call('ZCARD', P .. 'online:' .. reg)
  end
end
return total
"""
)

HEARTBEAT = (
    _LUA_COMMON
    + """
-- KEYS[1] cw:reg:{rid}, KEYS[2] cw:online:{rid}
-- ARGV: rid, ttl (ms), zset ttl (ms), urls, started. 1 if cw:reg:{rid} was there, else 0.
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], 'urls', ARGV[4])
if existed == 0 then
  redis.call('HSET', KEYS[1], 'started', ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', P .. 'regs', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return existed
"""
)

SWEEP = (
    _LUA_COMMON
    + """
-- KEYS[1] cw:online:{dead}; ARGV: dead, chunk. Removes up to chunk names of the dead registry's
-- zset, and each one's entry if it still names that registry (a left published); deletes the
-- zset once empty. The number of names taken from the zset (< chunk: done), -1 if the registry
-- is alive again (it came back from a pause: nothing is swept).
local dead = ARGV[1]
if alive(dead) then
  return -1
end
local names = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
for _, name in ipairs(names) do
  local key = P .. 'on:' .. name
  local held = redis.call('HMGET', key, 'reg', 'epoch')
  if held[1] == dead then
    redis.call('DEL', key)
    publish(name, 0, held[2], dead)
  end
end
if #names > 0 then
  redis.call('ZREM', KEYS[1], unpack(names))
end
if #names < tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
end
return #names
"""
)
