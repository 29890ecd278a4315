"""What the Redis bus does beyond the bus contract (test_registry_presence_bus_contract.py): the
payloads the Redis scripts must publish, a crash (SIGKILL) rather than a clean restart, a
silent Redis caught by the health check, names followed while Redis was away, and a router
that answers False rather than raising while Redis is away. Against a real ``redis-server``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from chinwag.adapters.registry.store.redis_bus import (
    RELEASED_CHANNEL,
    RedisPresenceBus,
    decode_change,
    decode_note,
    decode_released,
    encode_change,
    encode_note,
    notes_channel,
    presence_channel,
)
from chinwag.adapters.registry.store.redis_router import RedisRelayRouter
from chinwag.application.registry.ports.presence_bus import KickNote, OfferNote, ReleasedNote
from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.application.registry.sessions import LocalClients
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.registry.refusals import KickCode
from tests.integration.test_registry_presence_bus_contract import Ear, wait_until
from tests.services import RedisServer

# -- payloads ----------------------------------------------------------------------------------


def test_the_channels_are_the_designs() -> None:
    assert presence_channel("alice") == "cw:p:alice"
    assert notes_channel("r2") == "cw:to:r2"
    assert RELEASED_CHANNEL == "cw:released"


def test_a_change_is_the_designs_json_and_reads_back() -> None:
    change = PresenceChange("alice", False, "r1:4", "r1")
    assert json.loads(encode_change(change)) == {"n": "alice", "on": 0, "e": "r1:4", "r": "r1"}
    assert decode_change(encode_change(change)) == change
    lua = b'{"e":"r1:5","n":"\xc3\xa9lise","on":true,"r":"r1"}'  # keys in any order, a boolean
    assert decode_change(lua) == PresenceChange("élise", True, "r1:5", "r1")


def test_notes_read_back_and_a_kick_is_what_a_script_can_publish() -> None:
    offer = OfferNote("bob", "r2:5", RelayOffer("sid-1", "alice", 10.0, ("tcp://r1.test:7400",)))
    kick = KickNote("bob", "r2:5", KickCode.RELEASED)
    assert decode_note(encode_note(offer)) == offer
    assert decode_note(encode_note(kick)) == kick
    assert json.loads(encode_note(kick)) == {
        "t": "kick",
        "n": "bob",
        "e": "r2:5",
        "code": "released",
    }
    assert decode_released(b"alice") == ReleasedNote("alice")
    assert decode_released('{"n":"alice"}') == ReleasedNote("alice")


# -- against Redis -----------------------------------------------------------------------------


def run(tmp_path: Path, scenario: Callable[[RedisServer, Redis], Awaitable[None]]) -> None:
    async def main() -> None:
        with RedisServer(tmp_path / "redis") as server:
            client = Redis.from_url(server.url)
            try:
                await scenario(server, client)
            finally:
                await client.aclose()

    asyncio.run(main())


async def started(client: Redis, registry: str, health_every: float = 5.0) -> RedisPresenceBus:
    bus = RedisPresenceBus(client, registry, health_every=health_every)
    await asyncio.wait_for(bus.start(), 5.0)
    return bus


def test_what_a_lua_script_publishes_is_heard(tmp_path: Path) -> None:
    async def scenario(server: RedisServer, client: Redis) -> None:
        bus = await started(client, "r2")
        ear = Ear().listen(bus)
        await bus.follow(["alice"])
        script = """
            redis.call('PUBLISH', 'cw:p:' .. ARGV[1],
                cjson.encode({n = ARGV[1], on = 1, e = 'r1:1', r = 'r1'}))
            redis.call('PUBLISH', 'cw:to:r2',
                cjson.encode({t = 'kick', n = ARGV[1], e = 'r2:3', code = 'replaced'}))
            redis.call('PUBLISH', 'cw:released', ARGV[1])
        """
        await client.eval(script, 0, "alice")
        await wait_until(lambda: len(ear.notes) == 2, "the kick and the release")
        assert ear.changes == [PresenceChange("alice", True, "r1:1", "r1")]
        assert ear.notes == [KickNote("alice", "r2:3", KickCode.REPLACED), ReleasedNote("alice")]
        await bus.close()

    run(tmp_path, scenario)


def test_a_crash_while_names_are_followed_resyncs_with_them_all(tmp_path: Path) -> None:
    async def scenario(server: RedisServer, client: Redis) -> None:
        r1, r2 = await started(client, "r1"), await started(client, "r2")
        ear = Ear().listen(r2)
        await r2.follow(["alice"])
        await asyncio.to_thread(server.kill)
        await wait_until(lambda: not r2.up, "the loss noticed")
        await r2.follow(["bob"])  # while Redis is away: returns, kept for the next connection
        await r2.unfollow(["alice"])
        await asyncio.to_thread(server.restart)
        await wait_until(lambda: ear.resyncs == 1, "on_resync once")
        await r1.publish(PresenceChange("alice", True, "r1:1", "r1"))
        await r1.publish(PresenceChange("bob", True, "r1:2", "r1"))
        await wait_until(lambda: len(ear.changes) >= 1, "bob heard")
        assert ear.names() == [("bob", True)]
        await r1.close()
        await r2.close()

    run(tmp_path, scenario)


def test_a_redis_that_stops_answering_is_a_loss(tmp_path: Path) -> None:
    async def scenario(server: RedisServer, client: Redis) -> None:
        bus = await started(client, "r2", health_every=0.1)
        ear = Ear().listen(bus)
        assert server.process is not None
        pid = server.process.pid
        os.kill(pid, signal.SIGSTOP)  # the socket stays open; nothing answers
        try:
            await wait_until(lambda: not bus.up, "the silence noticed")
        finally:
            os.kill(pid, signal.SIGCONT)
        await wait_until(lambda: ear.resyncs == 1 and bus.up, "back, and resync told")
        await bus.close()

    run(tmp_path, scenario)


def test_the_router_says_false_while_redis_is_away(tmp_path: Path) -> None:
    async def scenario(server: RedisServer, client: Redis) -> None:
        router = RedisRelayRouter(client, LocalClients("r1"), ["tcp://r1.test:7400"])
        target = OnlineEntry("bob", bytes(32), None, None, "r2", "r2:1", 3)
        await asyncio.to_thread(server.kill)
        assert await router.offer(target, RelayOffer("sid-1", "alice", 10.0)) is False
        await router.kick(target, KickCode.REPLACED)  # logged, not raised

    run(tmp_path, scenario)
