"""Signing in and leaving at the registry (``Register``, ``Unregister``, ``Disconnect``) over the
fakes: today's rules and words (registrar.py, admission.py), the presence store's join and
leave, the previous holder ended, and the stores away."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from chinwag.application.registry.admission import NameAdmission
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.register import Register, Registered
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.unregister import Disconnect, Unregister
from chinwag.domain.registry.binding import MAX_NAMES_PER_CONNECTION
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.registry.refusals import KickCode, Refusal, RefusalCode
from tests.unit.registry_world import FakeNameStore, World, client_of, key

T = TypeVar("T")
HERE = "198.51.100.7"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeFanOut:
    """The fan-out as the sign-in and the leaves see it: what it was told (with whether the
    session holding the change's epoch was in ``LocalClients`` then), and a snapshot."""

    def __init__(self, world: World, snapshot: list[str] | None = None) -> None:
        self.world = world
        self.changes: list[PresenceChange] = []
        self.held: list[bool] = []
        self.snapshots: list[ClientSession] = []
        self.snapshot_is = snapshot
        self.fail = False

    def local(self, change: PresenceChange) -> None:
        self.changes.append(change)
        self.held.append(self.world.clients.holding(change.name, change.epoch) is not None)

    async def snapshot(self, session: ClientSession) -> list[str]:
        self.snapshots.append(session)
        if self.fail:
            raise StoreUnavailable("cannot hear everyone")
        assert self.snapshot_is is not None
        return self.snapshot_is


class Registry:
    """The three use cases over one world, as the dispatcher will hold them."""

    def __init__(
        self,
        world: World,
        per_minute: int = 30,
        versions: tuple[int, ...] = (2,),
        fanout: FakeFanOut | None = None,
    ) -> None:
        self.world = world
        self.admission = NameAdmission(world.names, world.ticker, per_minute)
        self.register = Register(
            world.names,
            world.presence,
            world.router,
            world.clients,
            self.admission,
            world.stats,
            fanout=fanout,
            versions=versions,
        )
        self.unregister = Unregister(world.clients, world.presence, world.stats, fanout)
        self.disconnect = Disconnect(world.clients, world.presence, world.stats, fanout)

    async def sign_in(
        self,
        session: ClientSession,
        user: str,
        host: str | None = None,
        port: int | None = 7000,
        version: int = 2,
    ) -> Registered | Refusal | None:
        return await self.register.execute(session, user, host, port, version)


def refused(answer: object, code: RefusalCode, message: str | None = None) -> Refusal:
    assert isinstance(answer, Refusal), answer
    assert answer.code == code, answer
    if message is not None:
        assert answer.message == message
    return answer


def registered(answer: object) -> Registered:
    assert isinstance(answer, Registered), answer
    return answer


# -- a sign-in -------------------------------------------------------------------------------


def test_a_sign_in_binds_the_name_joins_the_network_and_gets_everyone_online() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        await world.online("bob")
        alice = world.session("alice")
        answer = registered(await registry.sign_in(alice, "Alice", host="alice.example"))
        assert answer == Registered("alice", "alice.example", 7000, ["alice", "bob"])
        assert world.names.bindings["alice"] == key("alice")
        assert alice.registration is not None and alice.version == 2
        assert world.clients.get("alice") is alice
        entry = world.presence.entries["alice"]
        assert (entry.key, entry.registry, entry.epoch) == (key("alice"), "r1", "r1:2")
        assert world.bus.published == [PresenceChange("alice", True, "r1:2", "r1")]
        assert client_of(alice).calls == []  # the answer is the dispatcher's to send
        assert world.stats.registrations["ok"] == 1
        assert (world.stats.registered_clients, world.stats.legacy_clients) == (2, 1)

    run(scenario())


@pytest.mark.parametrize(
    ("host", "port", "recorded"),
    [
        (None, 7000, HERE),  # no host: where it connects from
        ("0.0.0.0", 7000, HERE),  # listening everywhere: the same
        ("::", 7000, HERE),
        ("Host.Example.", 7000, "host.example"),
        ("0:0:0:0:0:0:0:1", 7000, "::1"),
        ("192.0.2.1", None, None),  # accepts no connections: no address at all
    ],
)
def test_the_host_recorded(host: str | None, port: int | None, recorded: str | None) -> None:
    async def scenario() -> None:
        world = World()
        answer = registered(
            await Registry(world).sign_in(world.session("alice"), "alice", host, port)
        )
        assert (answer.host, answer.port) == (recorded, port)
        assert (world.presence.entries["alice"].host, world.presence.entries["alice"].port) == (
            recorded,
            port,
        )

    run(scenario())


@pytest.mark.parametrize(
    ("user", "host", "version", "code", "message"),
    [
        ("al\u202eice", None, 2, RefusalCode.INVALID_USERNAME, None),
        ("a" * 33, None, 2, RefusalCode.INVALID_USERNAME, None),
        (
            "alice",
            None,
            99,
            RefusalCode.UNSUPPORTED_VERSION,
            "protocol version 99 is not supported; this registry speaks version 2",
        ),
        ("alice", None, 1, RefusalCode.UNSUPPORTED_VERSION, None),
        ("alice", "10.0.0.1%eth0", 2, RefusalCode.INVALID_ADDRESS, None),
        ("alice", "127.1", 2, RefusalCode.INVALID_ADDRESS, None),
    ],
)
def test_requests_refused_before_the_stores_are_asked(
    user: str, host: str | None, version: int, code: RefusalCode, message: str | None
) -> None:
    async def scenario() -> None:
        world = World()
        session = world.session("alice")
        answer = refused(await Registry(world).sign_in(session, user, host, 7000, version), code)
        assert answer.message if message is None else answer.message == message
        assert world.names.calls == [] and world.presence.calls == []
        assert session.registration is None and session.names_claimed == set()
        assert world.stats.registrations[code.value] == 1

    run(scenario())


def test_a_registry_of_two_versions_says_both() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world, versions=(2, 3))
        answer = await registry.sign_in(world.session(), "alice", version=4)
        refused(
            answer,
            RefusalCode.UNSUPPORTED_VERSION,
            "protocol version 4 is not supported; this registry speaks versions 2 and 3",
        )
        registered(await registry.sign_in(world.session(), "alice", version=3))

    run(scenario())


def test_a_registered_connection_cannot_register_again() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice = world.session("alice")
        registered(await registry.sign_in(alice, "alice"))
        answer = await registry.sign_in(alice, "alice2")
        refused(
            answer,
            RefusalCode.ALREADY_REGISTERED,
            "this connection is already registered as alice",
        )

    run(scenario())


# -- names bound to keys ---------------------------------------------------------------------


def test_another_key_cannot_take_a_bound_name_online_or_offline() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        owner = world.session("alice")
        registered(await registry.sign_in(owner, "alice"))
        thief = world.session("mallory")
        taken = "alice is registered to another key"
        refused(await registry.sign_in(thief, "ALICE"), RefusalCode.NAME_TAKEN, taken)
        await registry.unregister.execute(owner)
        refused(await registry.sign_in(thief, "alice"), RefusalCode.NAME_TAKEN, taken)
        assert world.names.bindings["alice"] == key("alice")
        assert thief.registration is None
        registered(await registry.sign_in(thief, "mallory"))
        assert world.stats.registrations == {"ok": 2, "name_taken": 2}

    run(scenario())


def test_two_keys_claiming_one_new_name_at_once_get_one_binding() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        first, second = world.session("first"), world.session("second")
        world.names.hold()  # the first binding waits for the disk ...
        pending = asyncio.create_task(registry.sign_in(first, "zoe"))
        await asyncio.sleep(0)
        answer = await registry.sign_in(second, "zoe")  # ... and the second key is refused now
        refused(answer, RefusalCode.NAME_TAKEN, "zoe is being registered to another key")
        world.names.let_go()
        assert registered(await pending).name == "zoe"
        assert world.names.bindings["zoe"] == first.key
        assert "zoe" not in second.names_claimed

    run(scenario())


def test_a_name_released_while_its_key_was_away_is_read_again_before_it_is_let_in() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        world.names.bound("alice", key("alice"))  # this registry's cache says alice's
        world.names.bindings["alice"] = key("carol")  # released and bound to carol elsewhere
        answer = await registry.sign_in(world.session("alice"), "alice")
        refused(answer, RefusalCode.NAME_TAKEN, "alice is registered to another key")
        assert "key_of alice" in world.names.calls
        assert world.names.cached_key("alice") == key("carol")

    run(scenario())


def test_a_released_name_goes_to_the_next_key_and_its_old_holder_is_told() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        old = world.session("alice")
        registered(await registry.sign_in(old, "alice"))
        world.names.released_elsewhere("alice")  # the operator; the cache still says alice's
        new = world.session("newcomer")
        assert registered(await registry.sign_in(new, "alice")).name == "alice"
        assert world.names.bindings["alice"] == new.key
        assert client_of(old).kicks == [
            (
                KickCode.RELEASED,
                "alice was released by the registry's operator and is another key's now",
            )
        ]
        assert old.registration is None and world.clients.get("alice") is new
        assert world.presence.entries["alice"].key == new.key

    run(scenario())


def test_a_released_name_may_be_bound_again_by_its_old_key() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        world.names.bound("alice", key("alice"))
        world.names.released_elsewhere("alice")
        registered(await registry.sign_in(world.session("alice"), "alice"))
        assert world.names.bindings["alice"] == key("alice")
        assert world.names.calls[:3] == ["key_of alice", "lookalike alice", "bind alice"]

    run(scenario())


@pytest.mark.parametrize(
    ("name", "bound_first", "said"),
    [
        ("\u0251lice", True, "\u0251lice looks like alice, which is registered"),
        ("a1ice", True, "a1ice looks like alice, which is registered"),
        ("\u0430\u04cf\u0456\u0441\u0435", False, "looks like the Latin name"),
        ("\u0430\u04cf\u0456\u0441\u0435", True, "looks like"),
    ],
    ids=["latin alpha", "digit one", "all cyrillic", "all cyrillic, alice bound"],
)
def test_lookalike_names_are_refused(name: str, bound_first: bool, said: str) -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        if bound_first:
            world.names.bound("alice", key("alice"))
        mallory = world.session("mallory")
        answer = refused(await registry.sign_in(mallory, name), RefusalCode.NAME_TAKEN)
        assert said in answer.message
        assert mallory.names_claimed == set()  # a refused name costs none of its four
        assert not any(call.startswith("bind") for call in world.names.calls)
        registered(await registry.sign_in(mallory, "mallory"))

    run(scenario())


class StaleLookalikes(FakeNameStore):
    """A store whose lookalike index has not seen a binding made elsewhere a moment ago: only
    the atomic ``bind`` finds it."""

    async def lookalike(self, name: str) -> str | None:
        await super().lookalike(name)
        return None


def test_a_lookalike_bound_elsewhere_meanwhile_is_found_by_the_bind_itself() -> None:
    async def scenario() -> None:
        world = World(names=StaleLookalikes())
        world.names.bound("alice", key("alice"))
        answer = await Registry(world).sign_in(world.session("mallory"), "\u0251lice")
        refused(answer, RefusalCode.NAME_TAKEN, "\u0251lice looks like alice, which is registered")
        assert "\u0251lice" not in world.names.bindings and "\u0251lice" not in world.clients

    run(scenario())


def test_a_connection_tries_at_most_four_names() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world, per_minute=1000)
        churner = world.session("churner")
        world.names.bound("mine", churner.key)
        for n in range(MAX_NAMES_PER_CONNECTION):
            registered(await registry.sign_in(churner, f"fresh{n}"))
            await registry.unregister.execute(churner)
        answer = await registry.sign_in(churner, "fresh9")
        refused(answer, RefusalCode.RATE_LIMITED, "too many names from one connection")
        assert "fresh9" not in world.names.bindings
        registered(await registry.sign_in(churner, "fresh0"))  # one it tried already
        await registry.unregister.execute(churner)
        registered(await registry.sign_in(churner, "mine"))  # bound to its key already

    run(scenario())


def test_new_names_from_one_address_are_limited_per_minute() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world, per_minute=3)
        sessions = [world.session(f"k{n}") for n in range(5)]
        answers = [await registry.sign_in(s, f"new{n}") for n, s in enumerate(sessions)]
        assert [type(a).__name__ for a in answers] == ["Registered"] * 3 + ["Refusal"] * 2
        refused(
            answers[-1],
            RefusalCode.RATE_LIMITED,
            f"too many new names from {HERE}: at most 3 a minute",
        )
        # Another address is counted apart; a bound name is not new; a minute later, again.
        registered(await registry.sign_in(world.session("x", "203.0.113.5"), "other"))
        await registry.disconnect.execute(sessions[0])
        registered(await registry.sign_in(world.session("k0"), "new0"))
        world.ticker.advance(60.0)
        registered(await registry.sign_in(world.session("k4"), "new4"))

    run(scenario())


# -- the previous holder ---------------------------------------------------------------------


def test_the_same_key_from_elsewhere_replaces_its_old_connection_without_a_leave() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        ghost = world.session("alice")
        registered(await registry.sign_in(ghost, "alice", port=5000))
        fresh = world.session("alice")
        answer = registered(await registry.sign_in(fresh, "alice", port=6000))
        assert answer.online == ["alice"]
        assert client_of(ghost).kicks == [
            (KickCode.REPLACED, "alice signed in again from another connection")
        ]
        assert ghost.registration is None and world.clients.get("alice") is fresh
        assert world.presence.entries["alice"].port == 6000
        assert not await registry.disconnect.execute(ghost)  # its close leaves nothing
        assert [c.online for c in world.bus.published] == [True, True]
        assert world.presence.entries["alice"].epoch == "r1:2"
        assert world.router.kicks == []
        assert world.stats.registered_clients == 1

    run(scenario())


@pytest.mark.parametrize(
    ("owner", "code"), [("alice", KickCode.REPLACED), ("someone else", KickCode.RELEASED)]
)
def test_a_holder_on_another_registry_is_ended_through_the_router(
    owner: str, code: KickCode
) -> None:
    async def scenario() -> None:
        world = World()
        there = world.elsewhere("alice", "r2")
        if owner != "alice":  # released there and bound to another key since
            world.names.released_elsewhere("alice")
        answer = await Registry(world).sign_in(world.session(owner), "alice")
        registered(answer)
        assert world.router.kicks == [(there, code)]
        assert world.presence.entries["alice"].registry == "r1"

    run(scenario())


# -- the first presence ----------------------------------------------------------------------


def test_the_fan_out_hears_the_join_once_the_name_is_held_and_makes_the_snapshot() -> None:
    async def scenario() -> None:
        world = World()
        fanout = FakeFanOut(world, ["alice", "bob"])
        registry = Registry(world, fanout=fanout)
        alice = world.session("alice")
        answer = registered(await registry.sign_in(alice, "alice"))
        assert answer.online == ["alice", "bob"]
        assert fanout.changes == [PresenceChange("alice", True, "r1:1", "r1")]
        assert fanout.held == [True]  # so the fan-out can skip the session that joined
        assert fanout.snapshots == [alice]
        again = world.session("alice")  # a replacement is told too: the fan-out drops it
        registered(await registry.sign_in(again, "alice"))
        assert fanout.changes[-1] == PresenceChange("alice", True, "r1:2", "r1")

    run(scenario())


def test_a_snapshot_the_fan_out_cannot_make_is_what_this_registry_holds() -> None:
    async def scenario() -> None:
        world = World()
        fanout = FakeFanOut(world)
        fanout.fail = True
        registry = Registry(world, fanout=fanout)
        await world.online("bob")
        world.elsewhere("carol")
        answer = registered(await registry.sign_in(world.session("alice"), "alice"))
        assert answer.online == ["alice", "bob"]

    run(scenario())


def test_the_fan_out_hears_every_leave_but_a_stale_one_and_none_at_shutdown() -> None:
    async def scenario() -> None:
        world = World()
        fanout = FakeFanOut(world, [])
        registry = Registry(world, fanout=fanout)
        alice, bob, carol = world.session("alice"), world.session("bob"), world.session("carol")
        for session, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            registered(await registry.sign_in(session, name))
        fanout.changes.clear()
        await registry.unregister.execute(alice)
        world.presence.fail = True  # the store is away: the sessions here are told anyway
        await registry.disconnect.execute(bob)
        world.presence.fail = False
        assert fanout.changes == [
            PresenceChange("alice", False, "r1:1", "r1"),
            PresenceChange("bob", False, "r1:2", "r1"),
        ]
        world.elsewhere("carol", "r2")  # carol signed in elsewhere: her leave here is stale
        assert await registry.unregister.execute(carol)
        assert len(fanout.changes) == 2
        registry.disconnect.shutting_down = True
        dave = world.session("dave")
        registered(await registry.sign_in(dave, "dave"))
        fanout.changes.clear()
        assert await registry.disconnect.execute(dave)
        assert fanout.changes == []

    run(scenario())


def test_without_the_presence_store_the_first_presence_is_what_this_registry_holds() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        await world.online("bob")
        world.elsewhere("carol")

        async def away(limit: int) -> list[str]:
            raise StoreUnavailable("gone")

        world.presence.everyone = away  # type: ignore[method-assign]
        answer = registered(await registry.sign_in(world.session("alice"), "alice"))
        assert answer.online == ["alice", "bob"]

    run(scenario())


# -- stores away -----------------------------------------------------------------------------


def test_a_new_name_when_the_name_store_is_away_is_busy_and_claims_nothing() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        first = world.session("first")
        world.names.fail = True
        refused(
            await registry.sign_in(first, "zoe"),
            RefusalCode.BUSY,
            "the registry cannot record new names now",
        )
        assert first.names_claimed == set()  # the lookalike read failed: nothing was tried
        world.names.fail = False
        registered(await registry.sign_in(world.session("second"), "zoe"))  # no claim left
        assert world.stats.registrations == {"busy": 1, "ok": 1}

    run(scenario())


class FailingBinds(FakeNameStore):
    async def bind(self, name: str, key: bytes) -> Any:
        await self._io(f"bind {name}")
        raise StoreUnavailable("the disk is full")


def test_a_binding_that_cannot_be_written_is_busy_and_its_claim_ends() -> None:
    async def scenario() -> None:
        world = World(names=FailingBinds())
        registry = Registry(world)
        first = world.session("first")
        answer = await registry.sign_in(first, "zoe")
        refused(answer, RefusalCode.BUSY, "the registry cannot record new names now")
        assert first.names_claimed == {"zoe"} and first.registration is None
        second = await registry.sign_in(world.session("second"), "zoe")
        assert "being registered" not in refused(second, RefusalCode.BUSY).message
        assert world.presence.calls == []

    run(scenario())


def test_a_bound_name_signs_in_on_what_the_registry_knew_when_the_name_store_is_away() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        world.names.bound("alice", key("alice"))
        world.names.fail = True
        registered(await registry.sign_in(world.session("alice"), "alice"))
        thief = world.session("mallory")
        refused(await registry.sign_in(thief, "alice"), RefusalCode.NAME_TAKEN)

    run(scenario())


def test_a_sign_in_when_the_presence_store_is_away_is_busy_and_holds_nothing() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice = world.session("alice")
        world.presence.fail = True
        refused(
            await registry.sign_in(alice, "alice"),
            RefusalCode.BUSY,
            "the registry cannot sign anybody in now; try again later",
        )
        assert alice.registration is None and "alice" not in world.clients
        assert world.names.bindings["alice"] == alice.key  # the binding stands: it is hers
        world.presence.fail = False
        registered(await registry.sign_in(alice, "alice"))

    run(scenario())


# -- gone meanwhile --------------------------------------------------------------------------


def test_a_connection_gone_while_its_name_was_bound_gets_no_answer_and_holds_nothing() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice = world.session("alice")
        world.names.hold()
        pending = asyncio.create_task(registry.sign_in(alice, "alice"))
        await asyncio.sleep(0)
        assert not await registry.disconnect.execute(alice)
        world.names.let_go()
        assert await pending is None
        assert world.presence.calls == [] and "alice" not in world.clients
        assert world.names.bindings["alice"] == alice.key

    run(scenario())


def test_a_connection_gone_while_it_joined_is_taken_back_out() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice = world.session("alice")
        world.presence.hold()
        pending = asyncio.create_task(registry.sign_in(alice, "alice"))
        for _ in range(100):
            if world.presence.calls:
                break
            await asyncio.sleep(0)
        assert world.presence.calls == ["join alice"]
        await registry.disconnect.execute(alice)
        world.presence.let_go()
        assert await pending is None
        assert "alice" not in world.presence.entries and "alice" not in world.clients
        assert [c.online for c in world.bus.published] == [True, False]

    run(scenario())


# -- leaving ---------------------------------------------------------------------------------


def test_unregister_leaves_for_its_epoch_and_the_connection_may_sign_in_again() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice = world.session("alice")
        registered(await registry.sign_in(alice, "alice"))
        assert await registry.unregister.execute(alice)
        assert alice.registration is None and "alice" not in world.clients
        assert "alice" not in world.presence.entries
        assert world.bus.published[-1] == PresenceChange("alice", False, "r1:1", "r1")
        assert not await registry.unregister.execute(alice)  # nothing held any more
        assert world.stats.registered_clients == 0
        registered(await registry.sign_in(alice, "alice"))
        assert world.presence.entries["alice"].epoch == "r1:2"

    run(scenario())


def test_a_late_leave_does_not_undo_a_newer_sign_in() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        old = world.session("alice")
        registered(await registry.sign_in(old, "alice"))
        world.presence.hold()
        leaving = asyncio.create_task(registry.unregister.execute(old))
        await asyncio.sleep(0)
        assert "alice" not in world.clients  # gone here at once, before the store answered
        newer = world.elsewhere("alice", "r2")  # meanwhile, alice signed in on another registry
        world.presence.let_go()
        assert await leaving
        assert world.presence.entries["alice"] == newer
        assert world.presence.calls[-1] == "leave alice"

    run(scenario())


def test_a_disconnect_leaves_unless_the_registry_is_shutting_down() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice, bob = world.session("alice"), world.session("bob")
        registered(await registry.sign_in(alice, "alice"))
        registered(await registry.sign_in(bob, "bob"))
        assert await registry.disconnect.execute(alice, "idle")
        assert alice.closed and "alice" not in world.presence.entries
        registry.disconnect.shutting_down = True
        published = len(world.bus.published)
        assert await registry.disconnect.execute(bob, "the registry is shutting down")
        assert "bob" not in world.clients and len(world.bus.published) == published
        assert world.presence.entries.keys() == {"bob"}  # nobody is leaving: the registry is

    run(scenario())


def test_a_leave_the_store_cannot_write_still_leaves_here() -> None:
    async def scenario() -> None:
        world = World()
        registry = Registry(world)
        alice = world.session("alice")
        registered(await registry.sign_in(alice, "alice"))
        world.presence.fail = True
        assert await registry.unregister.execute(alice)
        assert alice.registration is None and "alice" not in world.clients

    run(scenario())


def test_entries_are_what_the_store_holds() -> None:
    """The world's own check that a sign-in's entry is the session's (``LocalClients.entry``)."""

    async def scenario() -> None:
        world = World()
        alice = world.session("alice")
        registered(await Registry(world).sign_in(alice, "alice", "192.0.2.1", 7000))
        assert world.presence.entries["alice"] == OnlineEntry(
            "alice", alice.key, "192.0.2.1", 7000, "r1", "r1:1", 2, None
        )
        assert world.clients.entry(alice) == world.presence.entries["alice"]

    run(scenario())
