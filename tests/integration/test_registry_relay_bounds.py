"""The relay's bounds against hostile clients, on loopback: nothing is relayed past the rate,
not even when a leg is lost; a new session brings no fresh burst; one address's keys share a
rate and a few places; and the relay stops taking sessions when it holds too much.

These began as a review's attacks (issue 9): ``RelayHub.lost`` relayed whatever the rate had
held back (up to a read, 256 KiB) at once, and since every cap was per identity key and keys are
free, one address with 125 throwaway names filled the registry's 1,000 sessions.

Every test client connects from 127.0.0.1, so per-address limits apply to all of them at once;
a test that needs "someone else" connects from 127.0.0.2 and is skipped where that is not a
loopback address.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import pytest

from chinwag.adapters.registry.relay_session import (
    MAX_RELAY_SESSIONS,
    MAX_RELAY_SESSIONS_PER_CLIENT,
    MAX_UNJOINED_PER_ADDRESS,
)
from chinwag.application.bucket import BucketMap
from tests.integration.test_registry_probe_bounds import ELSEWHERE, needs_alias, welcomed_from
from tests.integration.test_registry_relay import Leg, Pair
from tests.integration.test_registry_server import Raw, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def test_a_lost_leg_gets_nothing_relayed_past_the_rate() -> None:
    """Alice sends far more than her rate; her leg is reset while the rate holds most of it
    back; bob gets no more than the rate allows since the start (the rest is dropped: the peers'
    own protocol resends what was not acknowledged)."""
    rate = burst = 16 * 1024

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = await started(relay_rate=rate, relay_burst=burst)
        p = await Pair(server).sign_in()
        start = loop.time()  # before any bucket exists
        a, b, sid = await p.joined()
        alice_leg = server.relay_hub.sessions[sid].legs[0]
        assert alice_leg is not None
        a.send(os.urandom(200_000))
        await wait_until(
            lambda: alice_leg.paused and len(alice_leg.pending) > 100_000,
            what="alice held back by the rate",
        )
        sock = a.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.writer.transport.abort()  # RST: the registry does not read alice, so it cannot tell
        b.send(b"x")  # ... until it writes to her leg
        got = await b.closed()
        elapsed = loop.time() - start
        await server.close()
        bound = burst + rate * elapsed
        assert len(got) <= bound, f"bob got {len(got)} bytes in {elapsed:.2f} s; rate: {bound:.0f}"
        assert server.relay_hub.sessions == {}

    run(scenario())


def test_a_new_session_brings_no_fresh_burst() -> None:
    """Alice spends her burst, ends the session and asks another at once: the bucket is the
    same one, so both sessions together keep to burst + rate x t."""
    rate = burst = 32 * 1024

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = await started(relay_rate=rate, relay_burst=burst)
        p = await Pair(server).sign_in()
        start = loop.time()
        a, b, _ = await p.joined()
        a.send(os.urandom(burst))
        first = len(await b.receive(burst))
        await a.raw.close()
        await b.closed()
        a, b, _ = await p.joined()
        a.send(os.urandom(4 * burst))
        reader = asyncio.create_task(b.collect())

        def within_bound() -> bool:
            total = first + len(b.data)
            assert total <= burst + rate * (loop.time() - start), "a fresh burst"
            return len(b.data) >= burst

        await wait_until(within_bound, what="the second session relaying at the rate")
        await server.close()
        await reader

    run(scenario())


def test_keys_at_one_address_share_its_rate() -> None:
    """Two pairs of keys at one address, each sender at full speed: together they keep to the
    address's rate (set here to one client's), not twice it."""
    rate, burst = 64 * 1024, 16 * 1024

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = await started(relay_rate=rate, relay_burst=burst, relay_rate_per_address=rate)
        start = loop.time()
        legs = []
        for names in (("alice", "bob"), ("carol", "dave")):
            p = await Pair(server, names).sign_in()
            legs.append(await p.joined())
        readers = [asyncio.create_task(b.collect()) for _, b, _ in legs]
        for a, _, _ in legs:
            a.send(os.urandom(512 * 1024))

        def relayed() -> int:
            return sum(len(b.data) for _, b, _ in legs)

        def within_bound() -> bool:
            assert relayed() <= burst + rate * (loop.time() - start), "over the address's rate"
            return relayed() >= burst + rate

        await wait_until(within_bound, what="relaying at the address's rate")
        assert min(len(b.data) for _, b, _ in legs) > 0  # both get their turns
        await server.close()
        await asyncio.gather(*readers)

    run(scenario())


def test_one_address_with_throwaway_keys_gets_a_few_unjoined_sessions_not_the_relay() -> None:
    """125 throwaway identities at one address ask 8 sessions each (what would fill the 1,000
    places) and join none: the address gets its few unjoined places, the rest are refused
    ``relay_limit``, and the relay keeps room for everybody else."""

    async def scenario() -> None:
        askers = MAX_RELAY_SESSIONS // MAX_RELAY_SESSIONS_PER_CLIENT
        server = await started(max_new_names_per_minute=100_000, relay_join_timeout=60)
        bots = [await Raw.welcomed(server.address) for _ in range(askers)]
        for n, bot in enumerate(bots):
            await bot.register(f"bot{n}", port=None)
        answers: dict[str, int] = {}
        for n, bot in enumerate(bots):
            for _ in range(MAX_RELAY_SESSIONS_PER_CLIENT):
                answer = await bot.request({"type": "relay", "to": f"bot{(n + 1) % askers}"})
                code = str(answer.get("code", answer["type"]))
                answers[code] = answers.get(code, 0) + 1
                if code == "relay_limit":
                    assert "your address" in answer["message"]
        sessions = len(server.relay_hub.sessions)
        await server.close()
        assert answers == {
            "relay_ready": MAX_UNJOINED_PER_ADDRESS,
            "relay_limit": MAX_RELAY_SESSIONS - MAX_UNJOINED_PER_ADDRESS,
        }
        assert sessions == MAX_UNJOINED_PER_ADDRESS

    run(scenario())


@needs_alias
def test_an_honest_pair_elsewhere_is_relayed_while_one_address_floods() -> None:
    async def scenario() -> None:
        server = await started(max_new_names_per_minute=100_000)
        bots = [await Raw.welcomed(server.address) for _ in range(2 * MAX_UNJOINED_PER_ADDRESS)]
        for n, bot in enumerate(bots):
            await bot.register(f"bot{n}", port=None)
        for n, bot in enumerate(bots):
            bot.send({"type": "relay", "to": f"bot{(n + 1) % len(bots)}"})
        await wait_until(
            lambda: len(server.relay_hub.sessions) >= MAX_UNJOINED_PER_ADDRESS,
            what="the address's places taken",
        )
        alice = await welcomed_from(ELSEWHERE, server.address)
        bob = await welcomed_from(ELSEWHERE, server.address)
        await alice.register("alice", port=None)
        await bob.register("bob", port=None)
        answer = await alice.request({"type": "relay", "to": "bob"})
        late_bot = await bots[0].request({"type": "relay", "to": "bob"})
        await server.close()
        assert answer["type"] == "relay_ready", answer
        assert late_bot["code"] == "relay_limit"

    run(scenario())


def test_one_address_holds_a_few_sessions_joined_or_not() -> None:
    async def scenario() -> None:
        server = await started(relay_sessions_per_address=2)
        p = await Pair(server).sign_in()
        await p.joined()
        await p.joined()  # two sessions from this address, both joined
        refused = await p.alice.request({"type": "relay", "to": "bob"})
        assert refused["code"] == "relay_limit"
        assert "your address has 2 relay sessions open" in refused["message"]
        carol = await Raw.welcomed(server.address)  # another key, the same address
        await carol.register("carol", port=None)
        assert (await carol.request({"type": "relay", "to": "bob"}))["code"] == "relay_limit"
        await server.close()

    run(scenario())


def test_new_sessions_are_refused_while_the_relay_holds_too_much() -> None:
    budget = 32 * 1024

    async def scenario() -> None:
        server = await started(relay_memory=budget)
        hub = server.relay_hub
        p = await Pair(server).sign_in()
        sid = await p.ask()
        early = os.urandom(48 * 1024)  # kept until bob joins: more than the relay may hold
        a = await Leg.open(server.address, p.alice_keys, sid, early)
        await wait_until(lambda: hub.holding() > budget, what="alice's early bytes held")
        carol = await Raw.welcomed(server.address)
        await carol.register("carol", port=None)
        refused = await carol.request({"type": "relay", "to": "alice"})
        assert (refused["code"], refused["message"]) == (
            "relay_full",
            "the relay holds all it can now",
        )
        b = await Leg.open(server.address, p.bob_keys, sid)  # bob joins: the bytes move on
        assert (await a.answer())["type"] == (await b.answer())["type"] == "relay_joined"
        assert await b.receive(len(early)) == early
        await wait_until(lambda: hub.holding() <= budget, what="the relay's hold drained")
        ready = await carol.request({"type": "relay", "to": "alice"})
        assert ready["type"] == "relay_ready"
        await server.close()

    run(scenario())


def test_unjoined_places_come_back_when_sessions_are_joined_or_expire() -> None:
    async def scenario() -> None:
        server = await started(relay_unjoined_per_address=1, relay_join_timeout=0.3)
        p = await Pair(server).sign_in()
        sid = await p.ask()
        assert (await p.alice.request({"type": "relay", "to": "bob"}))["code"] == "relay_limit"
        a = await Leg.open(server.address, p.alice_keys, sid)
        b = await Leg.open(server.address, p.bob_keys, sid)
        assert (await a.answer())["type"] == (await b.answer())["type"] == "relay_joined"
        await p.ask()  # the joined session freed its unjoined place; this one expires
        await wait_until(lambda: len(server.relay_hub.sessions) == 1, what="the expiry")
        await p.ask()
        await server.close()

    run(scenario())


def test_a_bucket_map_forgets_only_full_buckets_and_takes_kept_ones_back() -> None:
    """The meters' buckets outlive their users until they are full again: forgetting one then
    lends nobody anything, and a kept one given back still counts what it lent."""
    buckets: BucketMap[int] = BucketMap(rate=1.0, burst=10.0)
    drained = buckets.get(0, now=0.0)
    drained.take(10, now=0.0)
    kept = buckets.get(1, now=0.0)
    for key in range(2, 3000):  # enough new keys to make the map forget full ones
        buckets.get(key, now=0.0)
    assert len(buckets) < 3000
    assert buckets.get(0, now=0.0) is drained  # not full: never forgotten
    kept.take(10, now=0.0)  # its user spends it; the map may have forgotten it meanwhile
    buckets.keep(1, kept)
    assert buckets.get(1, now=0.0).available(now=0.0) == 0
