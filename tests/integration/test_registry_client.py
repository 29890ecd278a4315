"""RegistryDirectory (the Directory port over TCP) against a real RegistryServer on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.known_users import KnownUsers
from chinwag.adapters.registry.protocol import Presence, Registered, Welcome, dump
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import (
    NameTaken,
    NotSignedIn,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import Directory, RegistryStatus
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import PeerAddress
from tests.support import wait_until

DEADLINE = 10.0
HERE = PeerAddress(host="127.0.0.1", port=5000)


def run(coro: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    """Run ``coro`` on a fresh loop, bounded by ``timeout`` seconds; no task may outlive it."""

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(bounded())


class Recorder:
    """A DirectoryListener that remembers every call."""

    def __init__(self) -> None:
        self.presence: list[frozenset[str]] = []
        self.statuses: list[tuple[RegistryStatus, str]] = []

    def presence_changed(self, online: frozenset[str]) -> None:
        self.presence.append(online)

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self.statuses.append((status, detail))

    @property
    def status(self) -> RegistryStatus | None:
        return self.statuses[-1][0] if self.statuses else None


def directory(port: int, session: str, **options: Any) -> RegistryDirectory:
    return RegistryDirectory("127.0.0.1", port, session=session, **options)


async def started(port: int = 0, **options: Any) -> RegistryServer:
    server = RegistryServer("127.0.0.1", port, **options)
    await server.start()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_implements_the_directory_port() -> None:
    port: Directory = directory(1, "s")
    assert port.online() == frozenset()


def test_sign_in_lookup_and_presence() -> None:
    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        alice, alice_events = directory(port, "a"), Recorder()
        bob, bob_events = directory(port, "b"), Recorder()
        assert await alice.sign_in(
            "Alice", PeerAddress(host="0.0.0.0", port=5000), alice_events
        ) == ("alice")
        assert alice_events.statuses[0][0] is RegistryStatus.CONNECTED
        assert f"127.0.0.1:{port}" in alice_events.statuses[0][1]
        assert alice_events.presence == [frozenset({"alice"})]
        assert (
            await bob.sign_in("bob", PeerAddress(host="10.0.0.7", port=6000), bob_events) == "bob"
        )
        assert bob.online() == frozenset({"alice", "bob"})
        await wait_until(lambda: alice.online() == frozenset({"alice", "bob"}))
        assert alice_events.presence == [frozenset({"alice"}), frozenset({"alice", "bob"})]

        assert await alice.lookup("BOB") == PeerAddress(host="10.0.0.7", port=6000)
        assert await bob.lookup("alice") == PeerAddress(host="127.0.0.1", port=5000)
        with pytest.raises(UnknownUser):
            await alice.lookup("carol")
        with pytest.raises(InvalidUsername):
            await alice.lookup("not a name")
        answers = await asyncio.gather(*(alice.lookup("bob") for _ in range(50)))
        assert set(answers) == {PeerAddress(host="10.0.0.7", port=6000)}

        await bob.sign_out()
        assert bob_events.status is RegistryStatus.DISCONNECTED
        assert bob.online() == frozenset()
        await wait_until(lambda: alice.online() == frozenset({"alice"}))
        assert alice_events.presence[-1] == frozenset({"alice"})
        with pytest.raises(NotSignedIn):
            await bob.lookup("alice")
        await alice.sign_out()
        await server.close()

    run(scenario())


def test_a_name_held_by_another_session_is_taken() -> None:
    async def scenario() -> None:
        server = await started()
        first, second = directory(server.address[1], "one"), directory(server.address[1], "two")
        await first.sign_in("alice", HERE, Recorder())
        events = Recorder()
        with pytest.raises(NameTaken):
            await second.sign_in("ALICE", HERE, events)
        assert events.statuses == []
        assert await second.sign_in("alicia", HERE, events) == "alicia"  # usable again
        await second.sign_out()
        await first.sign_out()
        await server.close()

    run(scenario())


def test_an_invalid_name_is_refused() -> None:
    async def scenario() -> None:
        server = await started()
        with pytest.raises(InvalidUsername):
            await directory(server.address[1], "s").sign_in("al ice", HERE, Recorder())
        await server.close()

    run(scenario())


def test_nothing_listening_is_registry_unavailable_naming_the_address() -> None:
    async def scenario() -> None:
        port = free_port()
        with pytest.raises(RegistryUnavailable, match=f"127.0.0.1:{port}"):
            await directory(port, "s").sign_in("alice", HERE, Recorder())

    run(scenario())


def test_a_silent_registry_is_left_and_pending_requests_fail() -> None:
    async def answer_the_handshake_then_go_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        welcome = Welcome(version=1, heartbeat_interval=5, idle_timeout=15, max_frame=16384)
        writer.write(encode(dump(welcome)))
        await reader.read(1024)
        writer.write(encode(dump(Registered(user="alice", host="127.0.0.1", port=5000))))
        writer.write(encode(dump(Presence(online=["alice"]))))
        await reader.read()  # until the client gives up on us
        writer.close()

    async def scenario() -> None:
        stub = await asyncio.start_server(answer_the_handshake_then_go_silent, "127.0.0.1", 0)
        port = stub.sockets[0].getsockname()[1]
        client, events = directory(port, "s", heartbeat_interval=0.1, reconnect_cap=0.2), Recorder()
        await client.sign_in("alice", HERE, events)
        with pytest.raises(RegistryUnavailable, match="nothing heard"):
            await client.lookup("bob")  # fails when the link is declared dead, before its timeout
        assert events.statuses[1][0] is RegistryStatus.RECONNECTING
        assert "nothing heard" in events.statuses[1][1]
        await wait_until(
            lambda: events.status is RegistryStatus.CONNECTED and len(events.statuses) >= 3
        )
        # The snapshot is told after every connection, even when it equals the one before.
        assert events.presence == [frozenset({"alice"}), frozenset({"alice"})]
        await client.sign_out()
        stub.close()
        await stub.wait_closed()

    run(scenario())


def test_it_recovers_by_itself_when_the_registry_restarts_on_the_same_port() -> None:
    async def scenario() -> None:
        server = await started(heartbeat_interval=0.2, idle_timeout=1.0)
        port = server.address[1]
        alice, events = directory(port, "a", reconnect_cap=0.2), Recorder()
        bob = directory(port, "b", reconnect_cap=0.2)
        await alice.sign_in("alice", HERE, events)
        await bob.sign_in("bob", HERE, Recorder())
        await wait_until(lambda: alice.online() == frozenset({"alice", "bob"}))
        await bob.sign_out()  # bob will not come back
        await wait_until(lambda: alice.online() == frozenset({"alice"}))
        await bob.sign_in("bob", HERE, Recorder())
        await wait_until(lambda: alice.online() == frozenset({"alice", "bob"}))

        await server.close()
        await wait_until(lambda: events.status is RegistryStatus.RECONNECTING)
        assert "127.0.0.1" in events.statuses[-1][1]
        with pytest.raises(RegistryUnavailable):
            await alice.lookup("bob")
        await bob.sign_out()

        restarted = await started(port, heartbeat_interval=0.2, idle_timeout=1.0)
        await wait_until(lambda: events.status is RegistryStatus.CONNECTED)
        assert restarted.online() == frozenset({"alice"})
        assert alice.online() == frozenset({"alice"})  # the fresh snapshot replaced the old set
        assert events.presence[-1] == frozenset({"alice"})
        assert [status for status, _ in events.statuses] == [
            RegistryStatus.CONNECTED,
            RegistryStatus.RECONNECTING,
            RegistryStatus.CONNECTED,
        ]
        assert await alice.lookup("alice") == HERE

        carol = directory(port, "c")
        await carol.sign_in("carol", HERE, Recorder())
        await wait_until(lambda: alice.online() == frozenset({"alice", "carol"}))
        await carol.sign_out()
        await alice.sign_out()
        assert events.status is RegistryStatus.DISCONNECTED
        await restarted.close()

    run(scenario())


def test_a_client_replaced_by_another_with_its_session_stops_rather_than_fights() -> None:
    async def scenario() -> None:
        server = await started(heartbeat_interval=0.2, idle_timeout=5.0)
        alice, events = directory(server.address[1], "same", reconnect_cap=0.2), Recorder()
        await alice.sign_in("alice", HERE, events)
        twin = directory(server.address[1], "same", reconnect_cap=0.2)
        elsewhere = PeerAddress(host="127.0.0.1", port=6000)
        await twin.sign_in("alice", elsewhere, Recorder())  # replaces alice's connection
        await wait_until(lambda: events.status is RegistryStatus.DISCONNECTED)
        assert "same session" in events.statuses[-1][1]
        assert alice.online() == frozenset()
        with pytest.raises(RegistryUnavailable):
            await alice.lookup("alice")

        def background_tasks() -> int:
            return sum("registry client" in task.get_name() for task in asyncio.all_tasks())

        await wait_until(lambda: background_tasks() == 1)  # the twin's: alice's stopped
        assert twin.online() == frozenset({"alice"})
        assert await twin.lookup("alice") == elsewhere
        await alice.sign_out()
        await twin.sign_out()
        await server.close()

    run(scenario())


def test_sign_out_while_reconnecting_stops_everything() -> None:
    async def scenario() -> None:
        server = await started()
        client, events = directory(server.address[1], "s", reconnect_cap=0.2), Recorder()
        await client.sign_in("alice", HERE, events)
        await server.close()
        await wait_until(lambda: events.status is RegistryStatus.RECONNECTING)
        await client.sign_out()
        assert events.status is RegistryStatus.DISCONNECTED
        await client.sign_out()  # twice is harmless

    run(scenario())


def test_sign_in_twice_is_a_mistake() -> None:
    async def scenario() -> None:
        server = await started()
        client = directory(server.address[1], "s")
        await client.sign_in("alice", HERE, Recorder())
        with pytest.raises(RuntimeError):
            await client.sign_in("alice", HERE, Recorder())
        await client.sign_out()
        await server.close()

    run(scenario())


def test_a_registry_shutting_down_does_not_report_everyone_offline() -> None:
    """Peers can still reach each other directly; only the registry went away."""

    async def scenario() -> None:
        server = RegistryServer("127.0.0.1", 0)
        host, port = await server.start()
        listeners = [Recorder(), Recorder()]
        directories = [
            RegistryDirectory(host, port, session=f"s{n}", reconnect_cap=0.05) for n in range(2)
        ]
        for n, (directory, listener) in enumerate(zip(directories, listeners, strict=True)):
            await directory.sign_in(
                f"user{n}", PeerAddress(host="127.0.0.1", port=4000 + n), listener
            )
        await wait_until(lambda: all(d.online() == {"user0", "user1"} for d in directories))
        await server.close()
        await wait_until(lambda: all(r.status is RegistryStatus.RECONNECTING for r in listeners))
        assert all(d.online() == {"user0", "user1"} for d in directories)
        for directory in directories:
            await directory.sign_out()

    asyncio.run(scenario())


def test_the_registry_remembers_every_name_across_restarts(tmp_path: Path) -> None:
    """Offline is not unknown: a name that ever signed in is offline, others are unknown."""

    async def scenario() -> None:
        known = KnownUsers(tmp_path / "registry.sqlite3")
        server = RegistryServer("127.0.0.1", 0, known_users=known)
        host, port = await server.start()
        bob = RegistryDirectory(host, port, session="b")
        await bob.sign_in("bob", PeerAddress(host="127.0.0.1", port=4001), Recorder())
        await bob.sign_out()
        await server.close()
        known.close()

        known = KnownUsers(tmp_path / "registry.sqlite3")  # a restarted registry
        server = RegistryServer("127.0.0.1", 0, known_users=known)
        host, port = await server.start()
        alice = RegistryDirectory(host, port, session="a")
        await alice.sign_in("alice", PeerAddress(host="127.0.0.1", port=4000), Recorder())
        with pytest.raises(UserOffline):
            await alice.lookup("Bob")
        with pytest.raises(UnknownUser):
            await alice.lookup("carol")
        await alice.sign_out()
        await server.close()
        known.close()

    asyncio.run(scenario())
