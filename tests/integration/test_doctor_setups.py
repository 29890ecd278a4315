"""The connection doctor through the container, over the in-memory registry and network: its
answers (``path``, ``reachable``, the cause) match each set-up, and deliveries say the path they
took. The same set-ups over TCP belong with the relay's process tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.memory.directory import InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.transport import InMemoryNetwork
from chinwag.application.doctor import Cause
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.message import MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.container import Container
from chinwag.entrypoints.memory_adapters import memory_adapters
from tests.processes import client_config

LOOPBACK = PeerAddress(host="127.0.0.1", port=0)

pytestmark = pytest.mark.timeout(30)


@dataclass
class Client:
    container: Container
    events: RecordingEvents
    address: PeerAddress | None = None

    @property
    def use(self) -> Any:
        return self.container.use_cases

    async def sign_in(self, name: str, listen: PeerAddress | None = LOOPBACK) -> None:
        self.address = await self.use.sign_in().execute(name, listen)

    async def me(self) -> SelfReport:
        report: SelfReport = await self.use.diagnose_self().execute()
        return report

    async def about(self, name: str) -> PeerReport:
        report: PeerReport = await self.use.diagnose_peer().execute(name)
        return report


@dataclass
class World:
    registry: InMemoryRegistry
    network: InMemoryNetwork
    folder: Path

    def client(self, name: str) -> Client:
        events = RecordingEvents()
        container = Container(events=events)
        container.config.from_dict(client_config(self.folder / name, name, 0))
        container.adapters.override(memory_adapters(self.registry, self.network))
        return Client(container, events)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(InMemoryRegistry(), InMemoryNetwork(), tmp_path)


async def pair(world: World, bob_listens: bool = True) -> tuple[Client, Client]:
    alice, bob = world.client("alice"), world.client("bob")
    await alice.sign_in("alice")
    await bob.sign_in("bob", LOOPBACK if bob_listens else None)
    return alice, bob


def test_both_reachable_the_path_is_direct(world: World) -> None:
    async def scenario() -> None:
        alice, _ = await pair(world)
        me = await alice.me()
        assert (me.registry.value, me.listen, me.reachable, me.cause) == (
            "connected",
            alice.address,
            True,
            Cause.OK,
        )
        about = await alice.about("bob")
        assert (about.path, about.cause) == ("direct", Cause.OK)
        assert about.rtt_ms is not None

    asyncio.run(scenario())


def test_somebody_listening_nowhere_is_reached_through_the_relay(world: World) -> None:
    async def scenario() -> None:
        alice, bob = await pair(world, bob_listens=False)
        me = await bob.me()
        assert (me.listen, me.reachable, me.cause) == (None, False, Cause.NOT_LISTENING)
        about = await alice.about("bob")
        assert (about.path, about.cause) == ("relayed", Cause.OK)
        assert "bob accepts no direct connections" in about.reason
        reverse = await bob.about("alice")  # alice listens: bob reaches her directly
        assert (reverse.path, reverse.cause) == ("direct", Cause.OK)

    asyncio.run(scenario())


def test_a_closed_port_is_said_and_the_relay_carries_the_messages(world: World) -> None:
    async def scenario() -> None:
        alice, bob = await pair(world)
        assert bob.address is not None
        world.registry.unreachable.add("bob")
        world.network.blocked.add(bob.address)
        me = await bob.me()
        assert (me.reachable, me.cause) == (False, Cause.REFUSED)
        about = await alice.about("bob")
        assert (about.path, about.cause) == ("relayed", Cause.OK)
        assert f"bob can forward port {bob.address.port}" in about.reason

        sent = await alice.use.send_message().execute("bob", "through the relay")
        await alice.events.wait_for(
            lambda: (
                alice.events.latest_route(sent.id) is Route.RELAYED
                and (alice.events.latest_state(sent.id) or sent).state is MessageState.DELIVERED
            )
        )

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("refusal", "cause", "reason"),
    [
        (None, Cause.RELAY_OFF, "unreachable"),  # no relay to try: no route at all
        ("relay_full", Cause.RELAY_FULL, "relay_refused"),
    ],
)
def test_no_direct_path_and_no_relay_leaves_messages_queued_saying_why(
    world: World, refusal: str | None, cause: Cause, reason: str
) -> None:
    async def scenario() -> None:
        if refusal is None:
            world.registry.relay = False  # chinwag-registry --no-relay
        world.network.relay_refusal = refusal
        alice, _ = await pair(world, bob_listens=False)
        about = await alice.about("bob")
        assert (about.path, about.cause) == ("none", cause)

        sent = await alice.use.send_message().execute("bob", "waits")
        await alice.events.wait_for(
            lambda: (alice.events.latest_state(sent.id) or sent).state is MessageState.QUEUED
        )
        queued = alice.events.latest_state(sent.id)
        assert queued is not None and queued.reason == reason

    asyncio.run(scenario())


def test_offline_since_and_a_lost_registry(world: World) -> None:
    async def scenario() -> None:
        alice, bob = await pair(world)
        await bob.use.sign_out().execute()
        about = await alice.about("bob")
        assert (about.path, about.cause) == ("none", Cause.OFFLINE)
        assert about.since is not None and "bob has been offline since" in about.reason
        about = await alice.about("nobody")
        assert (about.path, about.cause) == ("none", Cause.NOT_REGISTERED)

        world.registry.available = False
        me = await alice.me()
        assert (me.registry.value, me.reachable, me.cause) == (
            "reconnecting",
            False,
            Cause.REGISTRY_UNREACHABLE,
        )
        about = await alice.about("bob")
        assert (about.path, about.cause) == ("none", Cause.REGISTRY_UNREACHABLE)

    asyncio.run(scenario())


def test_listening_nowhere_on_a_registry_that_does_not_relay(world: World) -> None:
    async def scenario() -> None:
        world.registry.relay = False  # chinwag-registry --no-relay
        _, bob = await pair(world, bob_listens=False)
        me = await bob.me()
        assert (me.listen, me.reachable, me.cause, me.relay) == (
            None,
            False,
            Cause.NOT_LISTENING,
            False,
        )
        assert me.reason.startswith("nobody can reach you")
        assert "through the registry's relay" not in me.reason

    asyncio.run(scenario())


def test_with_the_registry_down_the_doctor_says_what_the_next_message_does(world: World) -> None:
    async def scenario() -> None:
        alice, _ = await pair(world)
        first = await alice.use.send_message().execute("bob", "while the registry is up")
        await alice.events.wait_for(
            lambda: (alice.events.latest_state(first.id) or first).state is MessageState.DELIVERED
        )
        world.registry.available = False
        about = await alice.about("bob")
        # The courier goes to the last known address with the pinned key: so does the doctor.
        assert (about.path, about.cause) == ("direct", Cause.OK)
        assert "last known address" in about.reason
        sent = await alice.use.send_message().execute("bob", "while the registry is down")
        await alice.events.wait_for(
            lambda: (
                (alice.events.latest_state(sent.id) or sent).state is MessageState.DELIVERED
                and alice.events.latest_route(sent.id) is Route.DIRECT
            )
        )

    asyncio.run(scenario())
