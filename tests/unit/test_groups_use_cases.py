"""The group use cases: create, add, remove, make admin, rename, leave, list, post, history;
their refusals; and their wiring in the container (what the clients call)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from chinwag.adapters.memory.directory import InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.transport import InMemoryNetwork
from chinwag.application.errors import NotSignedIn, UnknownUser, UserOffline
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.use_cases import LoadHistory
from chinwag.domain.errors import (
    GroupFull,
    InvalidChange,
    InvalidMessage,
    InvalidUsername,
    NotAMember,
    NotAnAdmin,
    UnknownGroup,
)
from chinwag.domain.group import MAX_MEMBERS, ChangeKind, InvalidGroupName
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.container import Container
from chinwag.entrypoints.memory_adapters import memory_adapters
from tests.processes import client_config
from tests.unit.groups_world import User, World, key_of, verify

NOWHERE = UUID(int=12345)
"""A group nobody created."""


def run(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


def test_create_takes_each_members_key_pinned_or_from_the_registry() -> None:
    async def scenario(world: World) -> None:
        alice, _, carol = await world.online("alice", "bob", "carol")
        await alice.trust.outgoing("carol", carol.key)  # met before: the pin is used
        state = await alice.groups.create(" Friends ", ["Bob", "carol", "bob", "alice"])
        assert state.name == "Friends" and state.names == ("alice", "bob", "carol")
        assert state.member_keys == {n: key_of(n) for n in ("alice", "bob", "carol")}
        assert state.admins == {"alice"} and state.version == 0
        assert await alice.trust.pinned_key("bob") == key_of("bob")  # pinned as first contact
        assert alice.events.groups == [(state, False)]
        assert await alice.groups.list() == [(state, False)]
        assert await alice.groups.get(state.id) == (state, False)

    run(scenario)


def test_create_refuses_what_it_cannot_do_and_creates_nothing() -> None:
    async def scenario(world: World) -> None:
        alice, carol = await world.online("alice", "carol")
        await carol.sign_out()  # known to the registry, never met by alice
        with pytest.raises(UserOffline, match="cannot add carol: they have never been online"):
            await alice.groups.create("friends", ["carol"])
        with pytest.raises(UnknownUser, match="cannot add nobody: nobody called nobody"):
            await alice.groups.create("friends", ["nobody"])
        with pytest.raises(InvalidGroupName):
            await alice.groups.create("\u202e", [])
        with pytest.raises(InvalidUsername):
            await alice.groups.create("friends", ["not a name"])
        with pytest.raises(GroupFull, match=f"at most {MAX_MEMBERS} members"):
            await alice.groups.create("crowd", [f"user{n}" for n in range(MAX_MEMBERS)])
        assert await alice.groups.list() == []
        assert await alice.changes.groups() == []

    run(scenario)


def test_admins_change_the_membership_and_others_are_refused_with_clear_words() -> None:
    async def scenario(world: World) -> None:
        alice, bob, _, _ = await world.online("alice", "bob", "carol", "dave")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        await world.until(lambda: knows(bob, group))
        with pytest.raises(NotAnAdmin, match="you are not an admin of 'friends'"):
            await bob.groups.add(group, "dave")
        with pytest.raises(NotAnAdmin):
            await bob.groups.rename(group, "mine now")
        state = await alice.groups.make_admin(group, "bob")
        assert state.admins == {"alice", "bob"} and state.version == 1
        await world.until(lambda: at_version(bob, group, 1))
        state = await bob.groups.add(group, "dave")
        assert state.names == ("alice", "bob", "carol", "dave")
        await world.until(lambda: at_version(alice, group, 2))
        with pytest.raises(InvalidChange, match="dave is a member of 'friends' already"):
            await alice.groups.add(group, "dave")
        with pytest.raises(InvalidChange, match="bob is an admin of 'friends' already"):
            await alice.groups.make_admin(group, "bob")
        with pytest.raises(NotAMember, match="erin is not a member of 'friends'"):
            await alice.groups.remove(group, "erin")
        with pytest.raises(InvalidChange, match="leave it instead"):
            await alice.groups.remove(group, "alice")
        state = await alice.groups.remove(group, "carol")
        assert state.names == ("alice", "bob", "dave")
        state = await alice.groups.rename(group, "best friends")
        assert state.name == "best friends" and state.version == 4
        with pytest.raises(InvalidChange, match="named 'best friends' already"):
            await alice.groups.rename(group, " best friends")
        with pytest.raises(InvalidGroupName):
            await alice.groups.rename(group, "")
        with pytest.raises(InvalidUsername):
            await alice.groups.add(group, "")
        with pytest.raises(UnknownGroup):
            await alice.groups.add(NOWHERE, "dave")

    run(scenario)


async def knows(user: User, group: Any) -> bool:
    return await user.book.view(group) is not None


async def at_version(user: User, group: Any, version: int) -> bool:
    view = await user.book.view(group)
    return view is not None and view.head.version >= version


def test_leaving_and_the_last_admin_leaving() -> None:
    async def scenario(world: World) -> None:
        alice, _, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        state = await alice.groups.leave(group)
        assert state.names == ("bob", "carol") and state.admins == {"bob"}  # the senior one
        assert await alice.groups.get(group) == (state, True)
        assert alice.events.groups[-1] == (state, True)
        with pytest.raises(NotAMember, match="not a member of 'friends' any more"):
            await alice.groups.leave(group)
        with pytest.raises(NotAMember):
            await alice.post.execute(group, "hello?")
        await world.until(lambda: at_version(carol, group, 1))
        state = await carol.groups.leave(group)
        assert state.names == ("bob",)

    run(scenario)


def test_a_post_is_numbered_signed_and_stored_with_a_delivery_per_other_member() -> None:
    async def scenario(world: World) -> None:
        alice, _, carol = await world.online("alice", "bob", "carol")
        state = await alice.groups.create("friends", ["bob", "carol"])
        posts = await asyncio.gather(*(alice.post.execute(state.id, f"p{n}") for n in range(5)))
        assert [m.stamp.seq for m in posts if m.stamp] == [1, 2, 3, 4, 5]
        assert await alice.bodies(state.id) == [f"p{n}" for n in range(5)]  # in turn order
        for message in posts:
            assert message.group_id == state.id and message.conversation_id == state.id
            assert message.recipient is None and message.stamp is not None
            assert message.stamp.version == state.version
            assert verify(key_of("alice"), signed_bytes(message), message.stamp.signature)
            assert message.state is MessageState.PENDING
            assert alice.events.states.count(message) == 1  # told as it was stored
            recipients = {d.recipient for d in await alice.messages.deliveries(message.id)}
            assert recipients == {"bob", "carol"}
        await world.until(lambda: has(carol, state.id, 5))
        more = await alice.post.execute(state.id, "p5")
        assert more.stamp is not None and more.stamp.seq == 6

    run(scenario)


async def has(user: User, group: Any, count: int) -> bool:
    return len(await user.bodies(group)) >= count


def test_the_sequence_goes_on_from_the_history_after_a_restart() -> None:
    async def scenario(world: World) -> None:
        alice, _ = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        await alice.post.execute(group, "one")
        await alice.post.execute(group, "two")
        await alice.sign_out()
        restarted = world.restart("alice")
        await restarted.sign_in()
        third = await restarted.post.execute(group, "three")
        assert third.stamp is not None and third.stamp.seq == 3

    run(scenario)


def test_a_post_alone_in_a_group_is_delivered_at_once() -> None:
    async def scenario(world: World) -> None:
        (alice,) = await world.online("alice")
        group = (await alice.groups.create("notes", [])).id
        message = await alice.post.execute(group, "to myself")
        assert message.state is MessageState.DELIVERED
        assert await alice.messages.deliveries(message.id) == []
        assert alice.courier.backlog() == 0

    run(scenario)


def test_a_post_is_refused_for_a_bad_body_an_unknown_group_or_nobody_signed_in() -> None:
    async def scenario(world: World) -> None:
        (alice,) = await world.online("alice")
        group = (await alice.groups.create("notes", [])).id
        with pytest.raises(InvalidMessage):
            await alice.post.execute(group, "   ")
        with pytest.raises(UnknownGroup):
            await alice.post.execute(NOWHERE, "hello")
        outsider = world.user("bob")
        with pytest.raises(NotSignedIn):
            await outsider.post.execute(group, "hello")
        with pytest.raises(NotSignedIn):
            await outsider.groups.list()

    run(scenario)


def test_the_history_of_a_group_pages_back_oldest_first() -> None:
    async def scenario(world: World) -> None:
        alice, bob = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        for n in range(5):
            await alice.post.execute(group, f"m{n}")
        await world.until(lambda: has(bob, group, 5))
        history = LoadHistory(bob.session, bob.messages, bob.book)  # as the container wires it
        newest = await history.group(group, limit=2)
        assert [m.body for m in newest] == ["m3", "m4"]
        older = await history.group(group, limit=10, before=newest[0].id)
        assert [m.body for m in older] == ["m0", "m1", "m2"]

    run(scenario)


def test_the_container_gives_the_clients_groups_and_post_to_group(tmp_path: Path) -> None:
    async def main() -> None:
        registry, network = InMemoryRegistry(), InMemoryNetwork()
        clients: list[tuple[Container, RecordingEvents]] = []
        for name in ("alice", "bob"):
            events = RecordingEvents()
            container = Container(events=events)
            container.config.from_dict(client_config(tmp_path / name, name, 0))
            container.adapters.override(memory_adapters(registry, network))
            await container.use_cases.sign_in().execute(name, PeerAddress(host="memory", port=0))
            clients.append((container, events))
        (alice, _), (bob, bob_events) = clients
        try:
            state = await alice.use_cases.groups().create("pair", ["bob"])
            message = await alice.use_cases.post_to_group().execute(state.id, "hello bob")
            async with asyncio.timeout(5):
                while not bob_events.received:
                    await network.drain()
                    await asyncio.sleep(0.005)
            assert [m.id for m in bob_events.received] == [message.id]
            assert await bob.use_cases.groups().list() == [(state, False)]
            page = await bob.use_cases.load_history().group(state.id)
            assert [m.body for m in page] == ["hello bob"]
            with pytest.raises(UnknownGroup):  # the history of groups only: the book is wired
                await bob.use_cases.load_history().group(NOWHERE)
            # What the desktop app's session asks for, each a use case of the container.
            assert [c.kind for c in await bob.use_cases.groups().log(state.id)] == [
                ChangeKind.CREATE
            ]
            assert await bob.use_cases.list_contacts().chats() == [state.id, "alice"]
            unread = await bob.use_cases.count_unread().groups()
            assert unread == {state.id: Unread(1, message.id)}
            await bob.use_cases.mark_read().group(state.id, message.id)
            assert await bob.use_cases.count_unread().groups() == {}
            found = await alice.use_cases.message_deliveries().execute([message.id])
            assert [d.recipient for d in found[message.id]] == ["bob"]
            assert alice.use_cases.post_to_group() is alice.use_cases.post_to_group()
        finally:
            for container, _ in clients:
                await container.use_cases.sign_out().execute()
                await container.use_cases.group_sync().close()

    asyncio.run(main())
