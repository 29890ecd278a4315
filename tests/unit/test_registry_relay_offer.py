"""Offering a relayed session (``OfferRelay``) over the fakes: today's refusals word for word
(relay off, the target unknown or offline, yourself, the places caps, the memory), the session
made here and offered to the target here or on another registry (with ``via``), and the session
dropped when the offer does not arrive (the target gone, its registry gone, the store away, the
request cancelled)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from chinwag.application.registry.look_up import LookUp
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.application.registry.relay_offer import OfferRelay, RelayOpened
from chinwag.domain.registry.presence import OnlineEntry
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from chinwag.domain.registry.relay import RelaySettings
from tests.unit.registry_world import (
    FakeRelaySessions,
    FakeRouter,
    World,
    client_of,
    key,
)
from tests.unit.registry_world import Incoming as Told

T = TypeVar("T")
JOIN = RelaySettings().join_timeout


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class GatedRouter(FakeRouter):
    """The fake router, able to hold its offers (``hold``/``let_go``) or to be away
    (``fail``: each offer raises StoreUnavailable)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.clients)
        self.fail = False
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    async def offer(self, target: OnlineEntry, offer: RelayOffer) -> bool:
        if self.gate is not None:
            self.waiting += 1
            await self.gate.wait()
        if self.fail:
            raise StoreUnavailable("the bus is away")
        return await super().offer(target, offer)


def world_with(**settings: Any) -> World:
    world = World(relay=FakeRelaySessions(RelaySettings(**settings)))
    world.router = GatedRouter(world)
    return world


def offer_relay(world: World) -> OfferRelay:
    look_up = LookUp(world.clients, world.presence, world.names, world.stats, relay=True)
    return OfferRelay(look_up, world.relay, world.router, world.stats)


def router(world: World) -> GatedRouter:
    assert isinstance(world.router, GatedRouter)
    return world.router


def opened(answer: object) -> RelayOpened:
    assert isinstance(answer, RelayOpened), answer
    return answer


async def until(condition: Any) -> None:
    """Let the loop run until ``condition()`` holds (a bounded number of passes)."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


# -- offered ---------------------------------------------------------------------------------


def test_a_target_here_is_told_at_once_and_the_session_holds_its_places() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice", address="2001:db8:1:2:3:4:5:6")
        bob = await world.online("bob")
        answer = opened(await offer_relay(world).execute(alice, "BOB"))
        assert answer.to == "bob"  # as registered, not as asked
        assert client_of(bob).incoming == [Told(answer.sid, "alice", JOIN, None)]
        assert client_of(alice).calls == []
        made = world.relay.sessions[answer.sid]
        assert made.keys == (key("alice"), key("bob"))
        assert made.address == "2001:db8:1:2::/64"  # the address group, as today
        assert world.relay.cancelled == []
        assert world.stats.relay_refused == {}
        assert world.stats.lookups == {}  # a relay's look-up is no ``lookup``

    run(scenario())


def test_a_target_on_another_registry_is_offered_through_the_router_with_via() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        carol = world.elsewhere("carol", "r2")
        answer = opened(await offer_relay(world).execute(alice, "carol"))
        assert answer.to == "carol"
        assert router(world).sent == [
            (carol, RelayOffer(answer.sid, "alice", JOIN, ("tcp://r1.test:7400",)))
        ]
        assert answer.sid in world.relay.sessions  # the session lives on the asker's registry
        assert world.relay.sessions[answer.sid].keys == (key("alice"), key("carol"))

    run(scenario())


def test_the_join_timeout_offered_is_the_relays() -> None:
    async def scenario() -> None:
        world = world_with(join_timeout=3.5)
        alice = await world.online("alice")
        bob = await world.online("bob")
        answer = opened(await offer_relay(world).execute(alice, "bob"))
        assert client_of(bob).incoming == [Told(answer.sid, "alice", 3.5, None)]

    run(scenario())


# -- refused as today --------------------------------------------------------------------------


def test_an_unregistered_session_is_told_to_register_first() -> None:
    async def scenario() -> None:
        world = world_with()
        await world.online("bob")
        answer = await offer_relay(world).execute(world.session("alice"), "bob")
        assert answer == Refusal(RefusalCode.NOT_REGISTERED, "register first")
        assert world.relay.sessions == {} and router(world).sent == []

    run(scenario())


def test_relay_off_is_refused_before_the_target_is_looked_up() -> None:
    async def scenario() -> None:
        world = world_with(enabled=False)
        alice = await world.online("alice")
        answer = await offer_relay(world).execute(alice, "nobody")
        assert answer == Refusal(RefusalCode.RELAY_OFF, "this registry does not relay")
        assert world.presence.calls == [] and world.names.calls == []
        assert world.stats.relay_refused == {"relay_off": 1}

    run(scenario())


@pytest.mark.parametrize(
    ("to", "code", "message"),
    [
        ("zed", RefusalCode.UNKNOWN_USER, "nobody called zed has ever signed in here"),
        ("Dave", RefusalCode.OFFLINE, "dave is offline"),
        ("a b", RefusalCode.INVALID_USERNAME, None),
    ],
)
def test_a_target_not_online_is_refused_as_a_lookup_is(
    to: str, code: RefusalCode, message: str | None
) -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        world.names.bound("dave", key("dave"))
        answer = await offer_relay(world).execute(alice, to)
        look_up = LookUp(world.clients, world.presence, world.names, world.stats, relay=True)
        assert answer == await look_up.find(to)  # the same words as ``lookup``
        assert isinstance(answer, Refusal) and answer.code is code
        if message is not None:
            assert answer.message == message
        assert world.relay.sessions == {} and router(world).sent == []
        assert world.stats.relay_refused == {code.value: 1}

    run(scenario())


def test_a_session_to_yourself_is_refused_by_name_and_by_key() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        # The same key signed in under another name, on another registry.
        world.names.bound("alice2", key("alice"))
        world.presence.entries["alice2"] = OnlineEntry(
            "alice2", key("alice"), "203.0.113.9", 7000, "r2", "r2:1", 3, None
        )
        yourself = Refusal(RefusalCode.BAD_REQUEST, "a session to yourself needs no relay")
        assert await offer_relay(world).execute(alice, "Alice") == yourself
        assert await offer_relay(world).execute(alice, "alice2") == yourself
        assert world.relay.sessions == {} and router(world).sent == []

    run(scenario())


def test_the_places_caps_refuse_in_todays_words() -> None:
    async def scenario() -> None:
        world = world_with(sessions_per_client=1, sessions_per_target=2)
        alice = await world.online("alice", address="192.0.2.1")
        erin = await world.online("erin", address="192.0.2.2")
        frank = await world.online("frank", address="192.0.2.3")
        await world.online("bob")
        await world.online("carl")
        relay = offer_relay(world)
        opened(await relay.execute(alice, "bob"))
        assert await relay.execute(alice, "carl") == Refusal(
            RefusalCode.RELAY_LIMIT, "you have 1 relay sessions open, as many as one client may"
        )
        opened(await relay.execute(erin, "bob"))
        assert await relay.execute(frank, "bob") == Refusal(
            RefusalCode.RELAY_FULL, "bob has as many relay sessions as it may"
        )
        assert len(world.relay.sessions) == 2
        assert world.stats.relay_refused == {"relay_limit": 1, "relay_full": 1}

    run(scenario())


def test_the_address_caps_count_the_address_group() -> None:
    async def scenario() -> None:
        world = world_with(sessions_per_address=2, unjoined_per_address=5)
        askers = [await world.online(f"user{n}", address=f"2001:db8::{n}") for n in range(3)]
        await world.online("bob")
        relay = offer_relay(world)
        opened(await relay.execute(askers[0], "bob"))
        opened(await relay.execute(askers[1], "bob"))
        assert await relay.execute(askers[2], "bob") == Refusal(
            RefusalCode.RELAY_LIMIT,
            "your address has 2 relay sessions open, as many as one address may",
        )

        world = world_with(unjoined_per_address=1)
        alice = await world.online("alice", address="192.0.2.1")
        erin = await world.online("erin", address="192.0.2.1")
        await world.online("bob")
        relay = offer_relay(world)
        opened(await relay.execute(alice, "bob"))
        assert await relay.execute(erin, "bob") == Refusal(
            RefusalCode.RELAY_LIMIT,
            "your address has 1 relay sessions nobody joined yet, as many as one address may; "
            "try again in a few seconds",
        )

    run(scenario())


def test_a_full_relay_refuses_by_sessions_and_by_memory() -> None:
    async def scenario() -> None:
        world = world_with(max_sessions=1, max_buffered=1000)
        alice = await world.online("alice", address="192.0.2.1")
        erin = await world.online("erin", address="192.0.2.2")
        await world.online("bob")
        relay = offer_relay(world)
        first = opened(await relay.execute(alice, "bob"))
        assert await relay.execute(erin, "bob") == Refusal(
            RefusalCode.RELAY_FULL, "the relay carries all it can now"
        )
        world.relay.cancel(first.sid)
        world.relay.holding = 1001
        assert await relay.execute(erin, "bob") == Refusal(
            RefusalCode.RELAY_FULL, "the relay holds all it can now"
        )
        world.relay.holding = 1000
        opened(await relay.execute(erin, "bob"))

    run(scenario())


# -- offers that do not arrive ---------------------------------------------------------------


def test_an_offer_another_registry_cannot_take_drops_its_session() -> None:
    async def scenario() -> None:
        world = world_with(sessions_per_client=1)
        alice = await world.online("alice")
        world.elsewhere("carol", "r2")
        router(world).remote_up = False
        relay = offer_relay(world)
        assert await relay.execute(alice, "carol") == Refusal(
            RefusalCode.OFFLINE, "carol is offline"
        )
        assert world.relay.sessions == {}
        assert world.relay.cancelled == [router(world).sent[0][1].sid]
        assert world.stats.relay_refused == {"offline": 1}
        # Its places are free again: the per-client cap of 1 lets the next one in.
        router(world).remote_up = True
        opened(await relay.execute(alice, "carol"))

    run(scenario())


def test_a_target_here_that_left_before_the_offer_drops_the_session() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        bob = await world.online("bob")
        gated = router(world)
        gated.gate = asyncio.Event()
        task = asyncio.create_task(offer_relay(world).execute(alice, "bob"))
        await until(lambda: gated.waiting == 1)
        assert len(world.relay.sessions) == 1  # made before the offer left
        world.clients.remove(bob)
        gated.gate.set()
        assert await task == Refusal(RefusalCode.OFFLINE, "bob is offline")
        assert world.relay.sessions == {} and len(world.relay.cancelled) == 1
        assert client_of(bob).incoming == []

    run(scenario())


def test_a_router_whose_store_is_away_answers_busy_and_drops_the_session() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        world.elsewhere("carol", "r2")
        router(world).fail = True
        assert await offer_relay(world).execute(alice, "carol") == Refusal(
            RefusalCode.BUSY, "the registry cannot reach carol now; try again later"
        )
        assert world.relay.sessions == {} and len(world.relay.cancelled) == 1
        assert world.stats.relay_refused == {"busy": 1}

    run(scenario())


def test_a_request_cancelled_while_its_offer_waits_drops_the_session() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        world.elsewhere("carol", "r2")
        gated = router(world)
        gated.gate = asyncio.Event()
        task = asyncio.create_task(offer_relay(world).execute(alice, "carol"))
        await until(lambda: gated.waiting == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert world.relay.sessions == {} and len(world.relay.cancelled) == 1

    run(scenario())


# -- the asker and the places across a wait ---------------------------------------------------


def test_an_asker_gone_while_the_target_was_looked_up_opens_nothing() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        world.elsewhere("carol", "r2")
        world.presence.hold()
        task = asyncio.create_task(offer_relay(world).execute(alice, "carol"))
        await until(lambda: world.presence.calls == ["get carol"])
        alice.closed = True
        world.presence.let_go()
        assert await task == Refusal(RefusalCode.NOT_REGISTERED, "register first")
        assert world.relay.sessions == {} and router(world).sent == []

    run(scenario())


def test_places_are_checked_and_taken_together_after_the_look_ups() -> None:
    async def scenario() -> None:
        world = world_with(sessions_per_client=1)
        alice = await world.online("alice")
        world.elsewhere("carol", "r2")
        world.elsewhere("dan", "r3")
        world.presence.hold()
        relay = offer_relay(world)
        tasks = [asyncio.create_task(relay.execute(alice, name)) for name in ("carol", "dan")]
        await until(lambda: len(world.presence.calls) == 2)
        world.presence.let_go()
        answers = await asyncio.gather(*tasks)
        assert isinstance(answers[0], RelayOpened)
        assert answers[1] == Refusal(
            RefusalCode.RELAY_LIMIT, "you have 1 relay sessions open, as many as one client may"
        )
        assert len(world.relay.sessions) == 1

    run(scenario())


def test_a_look_up_the_store_cannot_answer_is_busy() -> None:
    async def scenario() -> None:
        world = world_with()
        alice = await world.online("alice")
        world.elsewhere("carol", "r2")
        world.presence.fail = True
        answer = await offer_relay(world).execute(alice, "carol")
        assert isinstance(answer, Refusal) and answer.code is RefusalCode.BUSY
        assert world.relay.sessions == {}

    run(scenario())
