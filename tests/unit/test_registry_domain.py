"""The registry's pure rules (domain/registry) and the shared types of its core: refusals,
binding judgements, presence modes and what a recipient has pending, the relay's places, address
groups; the sessions' bookkeeping; and the fakes the use-case tests share."""

from __future__ import annotations

import asyncio

import pytest

from chinwag.adapters.registry import frames, relay_session
from chinwag.adapters.registry.probe import NOT_AN_IP, ProbeResult
from chinwag.adapters.registry.protocol import ErrorCode
from chinwag.application.ports.directory import Reachability
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult
from chinwag.application.registry.sessions import LocalRegistration, Probed
from chinwag.domain.registry import addresses, relay
from chinwag.domain.registry.addresses import address_group, is_unspecified, same_address
from chinwag.domain.registry.binding import (
    MAX_NAMES_PER_CONNECTION,
    judge_bound,
    judge_claim,
    judge_new_name,
)
from chinwag.domain.registry.presence import (
    MAX_WATCH_ENTRIES,
    MAX_WATCHED,
    PendingPresence,
    PresenceMode,
    judge_watch,
    next_mode,
)
from chinwag.domain.registry.refusals import KickCode, Refusal, RefusalCode
from chinwag.domain.registry.relay import Places, RelaySettings
from tests.unit.registry_world import (
    FakeRelaySession,
    ManualTicker,
    World,
    client_of,
    key,
)

EVERYONE, WATCHED = PresenceMode.EVERYONE, PresenceMode.WATCHED
ALICE, BOB = key("alice"), key("bob")


# -- refusals ----------------------------------------------------------------------------------


def test_every_refusal_and_kick_is_a_wire_error_code_of_the_same_word() -> None:
    wire = {code.value for code in ErrorCode}
    assert {code.value for code in RefusalCode} - wire <= {"watch_limit"}  # new in v3 (C1)
    assert {code.value for code in KickCode} <= wire


# -- binding -----------------------------------------------------------------------------------


def test_a_new_name_like_a_bound_one_is_taken() -> None:
    assert judge_new_name("alice", None) is None
    refusal = judge_new_name("ɑlice", "alice")
    assert refusal == Refusal(RefusalCode.NAME_TAKEN, "ɑlice looks like alice, which is registered")
    assert judge_new_name("alice", "alice") is None  # itself is no lookalike


def test_a_name_in_another_script_that_reads_as_latin_is_taken_even_unbound() -> None:
    refusal = judge_new_name("аӏісе", None)  # all Cyrillic
    assert refusal is not None and refusal.code is RefusalCode.NAME_TAKEN
    assert "Latin name" in refusal.message
    assert judge_new_name("алиса", None) is None  # Cyrillic that reads as Cyrillic


def test_a_bound_name_is_its_first_keys_only() -> None:
    assert judge_bound("alice", ALICE, ALICE) is None
    assert judge_bound("alice", ALICE, None) is None  # unbound: judge_new_name's call
    assert judge_bound("alice", BOB, ALICE) == Refusal(
        RefusalCode.NAME_TAKEN, "alice is registered to another key"
    )


def test_a_connection_may_try_a_few_new_names_and_its_own_again_and_again() -> None:
    claimed = {f"name{i}" for i in range(MAX_NAMES_PER_CONNECTION - 1)}
    assert judge_claim("one_more", ALICE, None, claimed) is None
    claimed.add("one_more")
    refusal = judge_claim("too_many", ALICE, None, claimed)
    assert refusal is not None and refusal.code is RefusalCode.RATE_LIMITED
    assert judge_claim("name0", ALICE, None, claimed) is None  # tried already
    assert judge_claim("mine", ALICE, ALICE, claimed) is None  # bound to its own key
    assert judge_claim("theirs", ALICE, BOB, claimed) is not None


# -- presence modes ----------------------------------------------------------------------------


def test_the_mode_turns_to_watched_at_the_threshold_and_back_only_below_a_margin() -> None:
    assert next_mode(EVERYONE, 99, below=100) is EVERYONE
    assert next_mode(EVERYONE, 100, below=100) is WATCHED
    assert next_mode(WATCHED, 99, below=100) is WATCHED
    assert next_mode(WATCHED, 90, below=100) is WATCHED  # margin: 100 // 10
    assert next_mode(WATCHED, 89, below=100) is EVERYONE
    assert next_mode(EVERYONE, 95, below=100) is EVERYONE  # in the margin, the mode stays


def test_a_count_hovering_at_the_threshold_switches_once() -> None:
    mode, switches = EVERYONE, 0
    for online in [98, 100, 99, 101, 97, 100, 95, 100] * 10:
        new = next_mode(mode, online, below=100)
        switches += new is not mode
        mode = new
    assert (mode, switches) == (WATCHED, 1)


def test_a_small_threshold_keeps_a_margin_of_one() -> None:
    assert next_mode(WATCHED, 4, below=5) is WATCHED
    assert next_mode(WATCHED, 3, below=5) is EVERYONE
    assert next_mode(EVERYONE, 0, below=0) is WATCHED  # 0: watch lists always


def test_watches_past_either_limit_are_refused_whole() -> None:
    assert judge_watch(MAX_WATCHED - 10, 10, 0) is None
    refusal = judge_watch(MAX_WATCHED - 10, 11, 0)
    assert refusal is not None and refusal.code is RefusalCode.WATCH_LIMIT
    assert judge_watch(0, 5, MAX_WATCH_ENTRIES - 5) is None
    refusal = judge_watch(0, 6, MAX_WATCH_ENTRIES - 5)
    assert refusal is not None and refusal.code is RefusalCode.WATCH_LIMIT


# -- pending presence --------------------------------------------------------------------------


def test_pending_changes_come_out_as_joined_and_left_once() -> None:
    pending = PendingPresence()
    assert not pending and pending.take() == ([], [])
    pending.note("bob", True)
    pending.note("carol", False)
    pending.note("dave", True)
    assert len(pending) == 3
    assert pending.take() == (["bob", "dave"], ["carol"])
    assert not pending and pending.take() == ([], [])


def test_a_name_that_came_and_went_between_two_takes_is_in_neither() -> None:
    pending = PendingPresence()
    pending.note("bob", True)
    pending.note("bob", False)
    assert not pending
    pending.note("carol", False)
    pending.note("carol", True)
    pending.note("carol", False)  # left, came back, left: it left
    assert pending.take() == ([], ["carol"])


def test_a_repeated_change_is_one_change_and_clear_forgets_all() -> None:
    pending = PendingPresence()
    pending.note("bob", True)
    pending.note("bob", True)
    assert pending.take() == (["bob"], [])
    pending.note("bob", False)
    pending.clear()
    assert pending.take() == ([], [])


# -- relay places ------------------------------------------------------------------------------


def _held(asker: bytes, target: bytes, address: str = "198.51.100.7") -> FakeRelaySession:
    return FakeRelaySession("s", (asker, target), address)


def test_places_refuse_past_each_cap_in_order_and_come_back_when_freed() -> None:
    settings = RelaySettings(
        sessions_per_client=2, sessions_per_target=3, sessions_per_address=4, max_sessions=100
    )
    places = Places(settings)
    taken = [_held(ALICE, BOB), _held(ALICE, BOB)]
    for session in taken:
        assert places.refusal(ALICE, BOB, "bob", "198.51.100.7", 0) is None
        places.take(session)
    refusal = places.refusal(ALICE, BOB, "bob", "198.51.100.7", 2)
    assert refusal is not None and refusal.code is RefusalCode.RELAY_LIMIT
    assert "2 relay sessions open" in refusal.message
    carol = key("carol")
    assert places.refusal(carol, BOB, "bob", "203.0.113.1", 2) is None
    places.take(_held(carol, BOB, "203.0.113.1"))
    refusal = places.refusal(key("dave"), BOB, "bob", "203.0.113.2", 3)
    assert refusal == Refusal(RefusalCode.RELAY_FULL, "bob has as many relay sessions as it may")
    places.free(taken[0])
    assert places.refusal(ALICE, key("erin"), "erin", "198.51.100.7", 2) is None
    refusal = places.refusal(ALICE, key("erin"), "erin", "198.51.100.7", 100)
    assert refusal == Refusal(RefusalCode.RELAY_FULL, "the relay carries all it can now")


def test_places_count_an_address_and_its_unjoined_sessions() -> None:
    places = Places(RelaySettings(sessions_per_address=3, unjoined_per_address=2))
    first, second = _held(key("k1"), BOB), _held(key("k2"), BOB)
    places.take(first)
    places.take(second)
    refusal = places.refusal(key("k3"), BOB, "bob", "198.51.100.7", 2)
    assert refusal is not None and "nobody joined yet" in refusal.message
    places.joined(first)
    first.joined = True
    assert places.refusal(key("k3"), BOB, "bob", "198.51.100.7", 2) is None
    places.take(_held(key("k3"), BOB))
    refusal = places.refusal(key("k4"), BOB, "bob", "198.51.100.7", 3)
    assert refusal is not None and "your address has 3 relay sessions open" in refusal.message
    places.free(first)
    places.free(second)
    assert places.refusal(key("k4"), BOB, "bob", "198.51.100.7", 1) is None
    fourth = _held(key("k4"), BOB)
    places.take(fourth)  # k3 and k4 not joined: the unjoined cap again
    refusal = places.refusal(key("k5"), BOB, "bob", "198.51.100.7", 2)
    assert refusal is not None and "nobody joined yet" in refusal.message
    places.free(fourth)  # ended unjoined (expired): its unjoined place comes back
    assert places.refusal(key("k5"), BOB, "bob", "198.51.100.7", 1) is None


def test_moved_names_are_the_same_objects_where_they_were() -> None:
    assert relay_session.RelaySettings is RelaySettings
    assert relay_session.MAX_RELAY_SESSIONS == relay.MAX_RELAY_SESSIONS
    assert frames.address_group is addresses.address_group
    assert frames.same_address is addresses.same_address
    with pytest.raises(ValueError, match="at least 1"):
        RelaySettings(sessions_per_client=0)


# -- addresses ---------------------------------------------------------------------------------


def test_an_ipv6_address_counts_as_its_64_and_an_ipv4_one_as_itself() -> None:
    assert address_group("198.51.100.7") == "198.51.100.7"
    assert address_group("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_group("fe80::1%eth0") == "fe80::/64"
    assert address_group("not an address") == "not an address"


def test_an_announced_host_is_the_peers_only_if_it_is_the_same_ip() -> None:
    assert same_address("198.51.100.7", "198.51.100.7")
    assert same_address("::ffff:198.51.100.7", "198.51.100.7")
    assert same_address("198.51.100.7", "::ffff:198.51.100.7")
    assert not same_address("198.51.100.8", "198.51.100.7")
    assert not same_address("alice.example", "198.51.100.7")
    assert is_unspecified("0.0.0.0") and is_unspecified("::")
    assert not is_unspecified("127.0.0.1") and not is_unspecified("alice.example")


# -- sessions ----------------------------------------------------------------------------------


def test_a_registration_says_reachable_only_once_really_probed() -> None:
    registration = LocalRegistration("bob", "198.51.100.7", 7000, BOB, "r1:1")
    assert registration.reachable() is None
    probed: Probed = ProbeResult(True, Reachability.OK)
    registration.reachability = probed
    assert registration.reachable() is True
    registration.reachability = ProbeResult(False, Reachability.REFUSED)
    assert registration.reachable() is False
    registration.reachability = NOT_AN_IP
    assert registration.reachable() is None


def test_local_clients_hold_one_session_per_name_and_epochs_name_the_registry() -> None:
    async def scenario() -> None:
        world = World()
        clients = world.clients
        old = await world.online("bob", version=2)
        assert old.registration is not None and old.registration.epoch == "r1:1"
        assert clients.holding("bob", "r1:1") is old and clients.legacy() == {old}
        new = world.session("bob")
        new.registration = LocalRegistration("bob", None, None, BOB, clients.new_epoch())
        assert clients.put(new) is old
        assert clients.holding("bob", "r1:1") is None
        assert clients.holding("bob", "r1:2") is new
        assert not clients.remove(old)  # replaced: its leave is no leave
        assert clients.legacy() == set() and len(clients) == 1
        entry = clients.entry(new)
        assert (entry.registry, entry.epoch, entry.version, entry.port) == ("r1", "r1:2", 3, None)
        assert clients.remove(new) and "bob" not in clients
        with pytest.raises(ValueError, match="registered session"):
            clients.put(world.session("nobody"))

    asyncio.run(scenario())


# -- the shared fakes --------------------------------------------------------------------------


def test_the_manual_ticker_runs_soon_callbacks_by_pass_and_timers_by_time() -> None:
    ticker, ran = ManualTicker(), []

    def first() -> None:
        ran.append("a")
        ticker.soon(lambda: ran.append("c"))  # the next pass

    ticker.soon(first)
    ticker.soon(lambda: ran.append("b"))
    assert ticker.turn() == 2 and ran == ["a", "b"]
    ticker.later(2.0, lambda: ran.append("late"))
    cancelled = ticker.later(1.0, lambda: ran.append("never"))
    ticker.later(0.5, lambda: ran.append(f"at {ticker.monotonic() - 1000}"))
    cancelled.cancel()
    ticker.advance(1.9)
    assert ran == ["a", "b", "c", "at 0.5"]
    ticker.advance(0.1)
    assert ran[-1] == "late" and ticker.pending == 0


def test_the_fake_stores_keep_the_ports_rules() -> None:
    async def scenario() -> None:
        world = World()
        names, presence = world.names, world.presence
        assert (await names.bind("alice", ALICE)).bound_key == ALICE
        assert (await names.bind("alice", BOB)).bound_key == ALICE  # the first key wins
        assert await names.bind("ɑlice", BOB) == BindResult(None, "alice")  # Latin alpha
        names.released_elsewhere("alice")
        assert names.cached_key("alice") == ALICE and await names.key_of("alice") is None
        assert names.cached_key("alice") is None
        bob = await world.online("bob")
        world.elsewhere("bobby")
        assert await presence.prefix("bob", 1, None) == (["bob"], True)
        assert await presence.prefix("bob", 1, "bob") == (["bobby"], False)
        assert bob.registration is not None
        assert not await presence.leave("bob", "r1:99")  # not its epoch
        assert await presence.leave("bob", bob.registration.epoch)
        assert [c.online for c in world.bus.published] == [False]
        presence.fail = True
        with pytest.raises(StoreUnavailable):
            await presence.count()
        client_of(bob).presence(["bob"])
        client_of(bob).presence_changed(["carol"], ["bob"])
        assert client_of(bob).seen_online() == {"carol"}

    asyncio.run(scenario())
