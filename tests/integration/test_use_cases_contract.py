"""The use cases, end to end, once over the in-memory adapters and once over the real ones
(TCP registry, TCP transport, SQLite) swapped in through the container: the same tests must pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.memory.directory import InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.transport import InMemoryNetwork
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.names import release as release_name
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.application.errors import NameTaken, NotSignedIn, UnknownUser
from chinwag.domain.errors import InvalidMessage, InvalidUsername
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.container import Container, close_storage
from chinwag.entrypoints.memory_adapters import memory_adapters
from tests.processes import client_config

LOOPBACK = PeerAddress(host="127.0.0.1", port=0)


@dataclass
class Client:
    container: Container
    events: RecordingEvents

    @property
    def use(self) -> Any:
        return self.container.use_cases

    async def sign_in(self, name: str) -> PeerAddress:
        address: PeerAddress = await self.use.sign_in().execute(name, LOOPBACK)
        return address

    async def sign_out(self) -> None:
        await self.use.sign_out().execute()

    def sees_online(self, *names: str) -> bool:
        return set(names) <= set(self.use.who_is_online().execute())

    def state_of(self, message_id: object) -> MessageState | None:
        latest = self.events.latest_state(message_id)
        return latest.state if latest else None


@dataclass
class ClientFactory:
    """Makes clients (``make("alice")``), each with its own folder and so its own key; and
    does what the registry's operator may do."""

    make: Callable[[str], Client]
    release: Callable[[str], object]
    """Free a name bound to a key (``chinwag-registry release NAME``)."""

    def __call__(self, name: str) -> Client:
        return self.make(name)


@asynccontextmanager
async def world(kind: str, tmp_path: Path) -> AsyncIterator[ClientFactory]:
    """A registry and a way to make clients on it, of the given kind."""
    async with AsyncExitStack() as stack:
        made: list[Client] = []
        release: Callable[[str], object]
        if kind == "memory":
            registry, network = InMemoryRegistry(), InMemoryNetwork()
            release = registry.release
        else:
            book_file = tmp_path / "registry" / "registry.sqlite3"
            book = NameBook(book_file)
            stack.callback(book.close)
            server = RegistryServer(
                "127.0.0.1", 0, security=Security(LocalKeys.generate()), names=book
            )
            _, port = await server.start()
            stack.push_async_callback(server.close)

            def release(name: str) -> bool:
                return release_name(book_file, name)

        def make(name: str) -> Client:
            events = RecordingEvents()
            container = Container(events=events)
            folder = tmp_path / f"{name}-{len(made)}"  # each client its own key
            container.config.from_dict(client_config(folder, name, port if kind == "real" else 0))
            if kind == "memory":
                container.adapters.override(memory_adapters(registry, network))
            client = Client(container, events)
            made.append(client)
            return client

        async def close_all() -> None:
            for client in made:
                if client.use.session().user is not None:
                    await client.sign_out()
                if kind == "real":
                    close_storage(client.container)

        stack.push_async_callback(close_all)
        yield ClientFactory(make, release)


@pytest.fixture(params=["memory", "real"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def scenario(
    test: Callable[[ClientFactory], Awaitable[None]],
) -> Callable[[str, Path], None]:
    """Run an async scenario in a fresh world of ``kind``."""

    def run(kind: str, tmp_path: Path) -> None:
        async def main() -> None:
            async with world(kind, tmp_path) as make:
                await asyncio.wait_for(test(make), timeout=20)

        asyncio.run(main())

    run.__name__ = test.__name__
    run.__doc__ = test.__doc__
    return run


@scenario
async def test_presence_is_pushed_both_ways(make: ClientFactory) -> None:
    alice, bob = make("alice"), make("bob")
    await alice.sign_in("alice")
    await bob.sign_in("bob")
    await alice.events.wait_for(lambda: alice.sees_online("alice", "bob"))
    await bob.events.wait_for(lambda: bob.sees_online("alice", "bob"))
    await bob.sign_out()
    await alice.events.wait_for(lambda: "bob" not in alice.use.who_is_online().execute())


@scenario
async def test_a_message_each_way_is_delivered_stored_and_acknowledged(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    hello = await alice.use.send_message().execute("bob", "hello bob")
    assert hello.state is MessageState.PENDING
    await bob.events.wait_for(lambda: any(m.id == hello.id for m in bob.events.received))
    await alice.events.wait_for(lambda: alice.state_of(hello.id) is MessageState.DELIVERED)
    reply = await bob.use.send_message().execute("alice", "hi alice")
    await alice.events.wait_for(lambda: any(m.id == reply.id for m in alice.events.received))
    await bob.events.wait_for(lambda: bob.state_of(reply.id) is MessageState.DELIVERED)
    states = [m.state for m in alice.events.states if m.id == hello.id]
    assert states == [MessageState.PENDING, MessageState.SENT, MessageState.DELIVERED]
    for client in (alice, bob):
        peer = "bob" if client is alice else "alice"
        history = await client.use.load_history().execute(peer, 10)
        assert [m.body for m in history] == ["hello bob", "hi alice"]
    assert (await alice.use.load_history().execute("bob"))[0].state is MessageState.DELIVERED


@scenario
async def test_unicode_bodies_round_trip_exactly(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    bodies = [
        "😀🎉👩‍👩‍👧",
        "שלום, עולם",
        "مرحبا",
        "line one\nline two\n\ttabbed",
        "é" * 5_000 + "ß" * 5_000,
    ]
    for body in bodies:
        await alice.use.send_message().execute("bob", body)
    await bob.events.wait_for(lambda: len(bob.events.received) == len(bodies))
    assert [m.body for m in bob.events.received] == bodies
    stored = await bob.use.load_history().execute("alice", 10)
    assert [m.body for m in stored] == bodies


@scenario
async def test_many_messages_arrive_once_each_in_order(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    sent = await asyncio.gather(
        *(alice.use.send_message().execute("bob", f"message {i}") for i in range(600))
    )
    await alice.events.wait_for(
        lambda: all(alice.state_of(m.id) is MessageState.DELIVERED for m in sent), timeout=15
    )
    assert [m.body for m in bob.events.received] == [m.body for m in sent]
    newest = await bob.use.load_history().execute("alice", 100)
    assert [m.body for m in newest] == [f"message {i}" for i in range(500, 600)]
    older = await bob.use.load_history().execute("alice", 100, newest[0].id)
    assert [m.body for m in older] == [f"message {i}" for i in range(400, 500)]


@scenario
async def test_search_finds_words_and_never_breaks_on_odd_text(make: ClientFactory) -> None:
    alice, bob = await _online_pair(make)
    for body in ["lunch at noon?", "the NEAR( cafe", 'she said "hi"', "café crème"]:
        await alice.use.send_message().execute("bob", body)
    await bob.events.wait_for(lambda: len(bob.events.received) == 4)
    search = bob.use.search_history()
    assert [m.body for m in await search.execute("lunch")] == ["lunch at noon?"]
    assert [m.body for m in await search.execute("NEAR(")] == ["the NEAR( cafe"]
    assert [m.body for m in await search.execute('"hi')] == ['she said "hi"']
    for odd in ['"', "AND", "*", ")", "-", "col:val", "   "]:
        await search.execute(odd)


@scenario
async def test_refusals_are_clear(make: ClientFactory) -> None:
    alice, _ = await _online_pair(make)
    with pytest.raises(UnknownUser):
        await alice.use.send_message().execute("nobody", "hello?")
    with pytest.raises(InvalidMessage):
        await alice.use.send_message().execute("bob", "   ")
    with pytest.raises(InvalidMessage):
        await alice.use.send_message().execute("alice", "note to self")
    with pytest.raises(InvalidUsername):
        await alice.use.send_message().execute("b o b", "hi")
    with pytest.raises(NameTaken):
        await make("impostor").sign_in("ALICE")
    with pytest.raises(NotSignedIn):
        await make("carol").use.send_message().execute("bob", "hi")


async def _online_pair(make: ClientFactory) -> tuple[Client, Client]:
    alice, bob = make("alice"), make("bob")
    await alice.sign_in("alice")
    await bob.sign_in("bob")
    await alice.events.wait_for(lambda: alice.sees_online("alice", "bob"))
    await bob.events.wait_for(lambda: bob.sees_online("alice", "bob"))
    return alice, bob


@scenario
async def test_messages_to_an_offline_user_wait_queued_and_arrive_in_order(
    make: ClientFactory,
) -> None:
    alice, bob = await _online_pair(make)
    await bob.sign_out()
    await alice.events.wait_for(lambda: not alice.sees_online("bob"))
    sent = [await alice.use.send_message().execute("bob", f"while away {n}") for n in range(5)]
    assert {m.state for m in sent} == {MessageState.QUEUED}
    await bob.sign_in("bob")  # back, with the same history
    await alice.events.wait_for(
        lambda: all(alice.state_of(m.id) is MessageState.DELIVERED for m in sent), timeout=15
    )
    got = [m.body for m in bob.events.received if m.body.startswith("while away")]
    assert got == [f"while away {n}" for n in range(5)]


@scenario
async def test_a_new_key_for_a_released_name_holds_both_ways_until_trusted(
    make: ClientFactory,
) -> None:
    alice, bob = await _online_pair(make)
    old_key = alice.container.adapters.identity_key()
    hello = await alice.use.send_message().execute("bob", "hello")
    await alice.events.wait_for(lambda: alice.state_of(hello.id) is MessageState.DELIVERED)
    await alice.sign_out()
    await bob.events.wait_for(lambda: not bob.sees_online("alice"))
    make.release("alice")
    alice = make("alice")  # a new folder: a new key
    new_key = alice.container.adapters.identity_key()
    assert new_key != old_key
    await alice.sign_in("alice")
    await bob.events.wait_for(lambda: bob.sees_online("alice"))

    def waits(client: Client, message_id: object) -> bool:
        latest = client.events.latest_state(message_id)
        return latest is not None and (latest.state, latest.reason) == (
            MessageState.QUEUED,
            "identity_changed",
        )

    to_alice = await bob.use.send_message().execute("alice", "is it you?")
    await bob.events.wait_for(lambda: waits(bob, to_alice.id))
    assert bob.events.identities == [("alice", "changed", new_key)]
    to_bob = await alice.use.send_message().execute("bob", "it is me")
    await alice.events.wait_for(lambda: waits(alice, to_bob.id))
    assert alice.events.received == []
    assert [m.id for m in bob.events.received] == [hello.id]

    await bob.use.trust_contact().execute("alice", fingerprint(new_key))
    assert bob.events.identities[-1] == ("alice", "trusted", new_key)
    await bob.events.wait_for(lambda: bob.state_of(to_alice.id) is MessageState.DELIVERED)
    await alice.events.wait_for(lambda: alice.state_of(to_bob.id) is MessageState.DELIVERED)
    assert [m.id for m in alice.events.received] == [to_alice.id]
    assert [m.id for m in bob.events.received] == [hello.id, to_bob.id]
