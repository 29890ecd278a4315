"""Looking a name up at the registry (``LookUp``) over the fakes: a name held here is answered
without I/O, one held elsewhere from the presence store; offline vs unknown_user in today's
words; what the probe found, the relay flag, and the stores away."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from chinwag.application.ports.directory import Reachability
from chinwag.application.registry.look_up import LookedUp, LookUp
from chinwag.domain.registry.presence import OnlineEntry
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from tests.unit.registry_world import World, key


def look_up(world: World, relay: bool = True) -> LookUp:
    return LookUp(world.clients, world.presence, world.names, world.stats, relay)


def found(answer: object) -> OnlineEntry:
    assert isinstance(answer, LookedUp), answer
    return answer.entry


def refused(answer: object, code: RefusalCode, message: str) -> None:
    assert answer == Refusal(code, message)


@dataclass(frozen=True)
class Probe:
    reachable: bool
    reason: str


def test_a_name_held_here_is_answered_without_io() -> None:
    async def scenario() -> None:
        world = World()
        alice = await world.online("alice", address="192.0.2.1", port=7000)
        answer = await look_up(world).execute("ALICE")
        assert isinstance(answer, LookedUp) and answer.relay
        assert answer.entry == OnlineEntry(
            "alice", key("alice"), "192.0.2.1", 7000, "r1", "r1:1", alice.version, None
        )
        assert world.presence.calls == [] and world.names.calls == []
        assert world.stats.lookups == {"found": 1}

    asyncio.run(scenario())


def test_a_name_held_by_another_registry_comes_from_the_presence_store() -> None:
    async def scenario() -> None:
        world = World()
        there = world.elsewhere("carol", "r2")
        assert found(await look_up(world).execute("Carol")) == there
        assert world.presence.calls == ["get carol"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("probe", "said"),
    [
        (None, None),
        (Probe(False, Reachability.NOT_PROBED), None),  # a host name, or not its address
        (Probe(True, Reachability.OK), True),
        (Probe(False, Reachability.REFUSED), False),
    ],
)
def test_what_the_probe_found_is_in_the_answer(probe: Probe | None, said: bool | None) -> None:
    async def scenario() -> None:
        world = World()
        alice = await world.online("alice")
        assert alice.registration is not None
        alice.registration.reachability = probe
        assert found(await look_up(world).execute("alice")).reachable is said

    asyncio.run(scenario())


def test_reachability_of_a_name_elsewhere_is_the_stores() -> None:
    async def scenario() -> None:
        world = World()
        world.elsewhere("carol")
        await world.presence.set_reachable("carol", "r2:1", False)
        assert found(await look_up(world).execute("carol")).reachable is False

    asyncio.run(scenario())


@pytest.mark.parametrize("relay", [True, False])
def test_the_answer_says_whether_this_registry_relays(relay: bool) -> None:
    async def scenario() -> None:
        world = World()
        await world.online("alice")
        answer = await look_up(world, relay).execute("alice")
        assert isinstance(answer, LookedUp) and answer.relay is relay

    asyncio.run(scenario())


def test_a_bound_name_nobody_holds_is_offline() -> None:
    async def scenario() -> None:
        world = World()
        world.names.bound("alice", key("alice"))
        refused(await look_up(world).execute("ALICE"), RefusalCode.OFFLINE, "alice is offline")
        assert world.names.calls == []  # bound when this registry last looked: known

    asyncio.run(scenario())


def test_a_name_known_only_to_the_store_is_offline() -> None:
    async def scenario() -> None:
        world = World()
        world.names.known_names.add("oldtimer")  # version 1's, never bound
        answer = await look_up(world).execute("oldtimer")
        refused(answer, RefusalCode.OFFLINE, "oldtimer is offline")
        assert world.names.calls == ["known oldtimer"]

    asyncio.run(scenario())


def test_a_name_nobody_ever_had_is_unknown_in_the_words_it_was_asked_with() -> None:
    async def scenario() -> None:
        world = World()
        answer = await look_up(world).execute("Nobody")
        refused(answer, RefusalCode.UNKNOWN_USER, "nobody called Nobody has ever signed in here")
        assert world.stats.lookups == {"unknown_user": 1}

    asyncio.run(scenario())


def test_a_name_that_cannot_be_a_username_is_refused_as_such() -> None:
    async def scenario() -> None:
        world = World()
        answer = await look_up(world).execute("bad name")
        assert isinstance(answer, Refusal) and answer.code == RefusalCode.INVALID_USERNAME
        assert answer.message
        assert world.presence.calls == []

    asyncio.run(scenario())


def test_an_entry_of_this_registry_it_no_longer_holds_is_offline() -> None:
    """A leave not written to the store yet: this registry knows better than the store."""

    async def scenario() -> None:
        world = World()
        alice = await world.online("alice")
        assert world.clients.remove(alice)
        refused(await look_up(world).execute("alice"), RefusalCode.OFFLINE, "alice is offline")

    asyncio.run(scenario())


def test_find_gives_the_entry_for_other_use_cases_and_counts_nothing() -> None:
    async def scenario() -> None:
        world = World()
        await world.online("alice")
        lookup = look_up(world)
        entry = await lookup.find("alice")
        assert isinstance(entry, OnlineEntry) and entry.name == "alice"
        refused(
            await lookup.find("zed"),
            RefusalCode.UNKNOWN_USER,
            "nobody called zed has ever signed in here",
        )
        assert world.stats.lookups == {}

    asyncio.run(scenario())


def test_without_the_stores_names_here_are_still_found_and_others_are_busy() -> None:
    async def scenario() -> None:
        world = World()
        await world.online("alice")
        world.elsewhere("carol")
        world.presence.fail = True
        world.names.fail = True
        lookup = look_up(world)
        assert found(await lookup.execute("alice")).name == "alice"
        busy = "the registry cannot look names up now; try again later"
        refused(await lookup.execute("carol"), RefusalCode.BUSY, busy)
        world.presence.fail = False
        world.presence.entries.pop("carol")
        refused(await lookup.execute("zed"), RefusalCode.BUSY, busy)  # offline or unknown?
        assert world.stats.lookups == {"found": 1, "busy": 2}

    asyncio.run(scenario())
