"""RegistryDirectory (the Directory port over TCP) against a real RegistryServer on loopback:
signing in with an identity key, pinning the registry's key, lookups that carry keys."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.pins import RegistryPins, registry_address
from chinwag.adapters.registry.protocol import (
    MAX_REQUEST_FRAME,
    PROLOGUE,
    PROTOCOL_VERSION,
    Presence,
    Registered,
    Welcome,
    dump,
)
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Handshake, Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.wire.codec import FrameDecoder, encode
from chinwag.application.errors import (
    NameTaken,
    NotSignedIn,
    RegistryKeyChanged,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import Directory, PeerLocation, RegistryStatus
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.identity import fingerprint
from chinwag.domain.user import PeerAddress
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

DEADLINE = 10.0
HERE = PeerAddress(host="127.0.0.1", port=5000)


def run(coro: Coroutine[Any, Any, None], timeout: float = 45.0) -> None:
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


def directory(port: int, keys: LocalKeys | None = None, **options: Any) -> RegistryDirectory:
    return RegistryDirectory(
        "127.0.0.1", port, security=Security(keys or LocalKeys.generate()), **options
    )


async def started(port: int = 0, keys: LocalKeys | None = None, **options: Any) -> RegistryServer:
    options.setdefault("probe", False)  # nothing listens at the addresses these clients give
    server = RegistryServer(
        "127.0.0.1", port, security=Security(keys or LocalKeys.generate()), **options
    )
    await server.start()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_implements_the_directory_port() -> None:
    port: Directory = directory(1)
    assert port.online() == frozenset()


def test_sign_in_lookup_and_presence() -> None:
    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        alice_keys, bob_keys = LocalKeys.generate(), LocalKeys.generate()
        alice, alice_events = directory(port, alice_keys), Recorder()
        bob, bob_events = directory(port, bob_keys), Recorder()
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

        # Lookups carry the key the registry binds the name to: the one that signed in.
        bob_location = PeerLocation(
            address=PeerAddress(host="10.0.0.7", port=6000), key=bob_keys.identity_key, relay=True
        )
        assert await alice.lookup("BOB") == bob_location
        assert await bob.lookup("alice") == PeerLocation(
            address=PeerAddress(host="127.0.0.1", port=5000),
            key=alice_keys.identity_key,
            relay=True,
        )
        with pytest.raises(UnknownUser):
            await alice.lookup("carol")
        with pytest.raises(InvalidUsername):
            await alice.lookup("not a name")
        answers = await asyncio.gather(*(alice.lookup("bob") for _ in range(50)))
        assert set(answers) == {bob_location}

        await bob.sign_out()
        assert bob_events.status is RegistryStatus.DISCONNECTED
        assert bob.online() == frozenset()
        await wait_until(lambda: alice.online() == frozenset({"alice"}))
        assert alice_events.presence[-1] == frozenset({"alice"})
        with pytest.raises(NotSignedIn):
            await bob.lookup("alice")
        with pytest.raises(UserOffline):
            await alice.lookup("bob")
        await alice.sign_out()
        await server.close()

    run(scenario())


def test_a_name_bound_to_another_key_is_taken_whether_its_owner_is_online_or_not() -> None:
    async def scenario() -> None:
        server = await started()
        owner, other = directory(server.address[1]), directory(server.address[1])
        await owner.sign_in("alice", HERE, Recorder())
        events = Recorder()
        with pytest.raises(NameTaken, match="registered to another key"):
            await other.sign_in("ALICE", HERE, events)
        assert events.statuses == []
        assert await other.sign_in("alicia", HERE, events) == "alicia"  # usable again
        await other.sign_out()
        await owner.sign_out()
        await wait_until(lambda: server.online() == frozenset())
        with pytest.raises(NameTaken, match="registered to another key"):
            await other.sign_in("alice", HERE, Recorder())
        await server.close()

    run(scenario())


def test_a_lookalike_of_a_bound_name_is_taken() -> None:
    async def scenario() -> None:
        server = await started()
        owner = directory(server.address[1])
        await owner.sign_in("alice", HERE, Recorder())
        with pytest.raises(NameTaken, match="looks like"):
            await directory(server.address[1]).sign_in("\u0251lice", HERE, Recorder())
        await owner.sign_out()
        await server.close()

    run(scenario())


def test_an_invalid_name_is_refused() -> None:
    async def scenario() -> None:
        server = await started()
        with pytest.raises(InvalidUsername):
            await directory(server.address[1]).sign_in("al ice", HERE, Recorder())
        await server.close()

    run(scenario())


def test_nothing_listening_is_registry_unavailable_naming_the_address() -> None:
    async def scenario() -> None:
        port = free_port()
        with pytest.raises(RegistryUnavailable, match=f"127.0.0.1:{port}"):
            await directory(port).sign_in("alice", HERE, Recorder())

    run(scenario())


class SilentRegistry:
    """A registry that welcomes, completes the handshake, answers the register and then says
    nothing more (sans-I/O handshake, as the real server does)."""

    def __init__(self) -> None:
        self.keys = LocalKeys.generate()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        welcome = encode(
            dump(
                Welcome(
                    version=PROTOCOL_VERSION,
                    heartbeat_interval=5,
                    idle_timeout=15,
                    max_frame=MAX_REQUEST_FRAME,
                )
            )
        )
        writer.write(welcome)
        handshake = Handshake(Security(self.keys), initiator=False, prologue=PROLOGUE + welcome)
        try:
            while handshake.remote is None:
                data = await reader.read(65536)
                if not data:
                    return
                writer.write(handshake.feed(data))
            records = handshake.records()
            decoder = FrameDecoder(MAX_REQUEST_FRAME)
            requests = decoder.feed(records.open(b""))  # it may have come with message 3
            while not requests:
                requests = decoder.feed(records.open(await reader.read(65536)))
            writer.write(
                records.seal(
                    encode(dump(Registered(user="alice", host="127.0.0.1", port=5000)))
                    + encode(dump(Presence(online=["alice"])))
                )
            )
            while await reader.read(65536):  # until the client gives up on us
                pass
        except ConnectionError:
            pass
        finally:
            writer.close()


def test_a_silent_registry_is_left_and_pending_requests_fail() -> None:
    async def scenario() -> None:
        stub = SilentRegistry()
        port = await stub.start()
        client, events = directory(port, heartbeat_interval=0.1, reconnect_cap=0.2), Recorder()
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
        await stub.close()

    run(scenario())


def test_after_a_registry_restart_nobody_seems_to_leave_and_come_back() -> None:
    """Both clients reconnect to the restarted registry, one after the other: the first to be
    back never sees the other go offline (its snapshot lacks him for a moment only)."""

    async def scenario() -> None:
        registry_keys = LocalKeys.generate()
        server = await started(keys=registry_keys, heartbeat_interval=0.2, idle_timeout=1.0)
        port = server.address[1]
        alice, events = directory(port, reconnect_cap=0.2), Recorder()
        bob, bobs = directory(port, reconnect_cap=0.2), Recorder()
        await alice.sign_in("alice", HERE, events)
        await bob.sign_in("bob", HERE, bobs)
        await wait_until(lambda: alice.online() == frozenset({"alice", "bob"}))
        seen, bobs_seen = len(events.presence), len(bobs.presence)
        await server.close()
        await wait_until(lambda: events.status is RegistryStatus.RECONNECTING)
        await wait_until(lambda: bobs.status is RegistryStatus.RECONNECTING)
        restarted = await started(
            port, keys=registry_keys, heartbeat_interval=0.2, idle_timeout=1.0
        )
        await wait_until(lambda: restarted.online() == frozenset({"alice", "bob"}))
        await wait_until(lambda: alice.online() == frozenset({"alice", "bob"}))
        assert all("bob" in online for online in events.presence[seen:]), events.presence
        assert all("alice" in online for online in bobs.presence[bobs_seen:]), bobs.presence
        await bob.sign_out()
        await wait_until(lambda: alice.online() == frozenset({"alice"}))  # a real departure
        await alice.sign_out()
        await restarted.close()

    run(scenario())


def test_it_recovers_by_itself_when_the_registry_restarts_on_the_same_port() -> None:
    async def scenario() -> None:
        registry_keys = LocalKeys.generate()
        server = await started(keys=registry_keys, heartbeat_interval=0.2, idle_timeout=1.0)
        port = server.address[1]
        alice_keys = LocalKeys.generate()
        alice, events = (
            directory(port, alice_keys, reconnect_cap=0.2, presence_grace=0.5),
            Recorder(),
        )
        bob = directory(port, reconnect_cap=0.2)
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

        restarted = await started(
            port, keys=registry_keys, heartbeat_interval=0.2, idle_timeout=1.0
        )
        await wait_until(lambda: events.status is RegistryStatus.CONNECTED)
        assert restarted.online() == frozenset({"alice"})
        # bob is not back yet: kept for a short grace (others come back within it, and are not
        # said to leave and return); he never comes back, so the fresh snapshot stands after it.
        assert alice.online() == frozenset({"alice", "bob"})
        await wait_until(lambda: alice.online() == frozenset({"alice"}), what="the grace to end")
        assert events.presence[-1] == frozenset({"alice"})
        assert [status for status, _ in events.statuses] == [
            RegistryStatus.CONNECTED,
            RegistryStatus.RECONNECTING,
            RegistryStatus.CONNECTED,
        ]
        assert await alice.lookup("alice") == PeerLocation(
            address=HERE, key=alice_keys.identity_key, relay=True
        )

        carol = directory(port)
        await carol.sign_in("carol", HERE, Recorder())
        await wait_until(lambda: alice.online() == frozenset({"alice", "carol"}))
        await carol.sign_out()
        await alice.sign_out()
        assert events.status is RegistryStatus.DISCONNECTED
        await restarted.close()

    run(scenario())


def test_a_client_replaced_by_another_with_its_key_stops_rather_than_fights() -> None:
    async def scenario() -> None:
        server = await started(heartbeat_interval=0.2, idle_timeout=5.0)
        keys = LocalKeys.generate()
        alice, events = directory(server.address[1], keys, reconnect_cap=0.2), Recorder()
        await alice.sign_in("alice", HERE, events)
        twin = directory(server.address[1], keys, reconnect_cap=0.2)
        elsewhere = PeerAddress(host="127.0.0.1", port=6000)
        await twin.sign_in("alice", elsewhere, Recorder())  # replaces alice's connection
        await wait_until(lambda: events.status is RegistryStatus.DISCONNECTED)
        assert "signed in from elsewhere" in events.statuses[-1][1]
        assert alice.online() == frozenset()
        with pytest.raises(RegistryUnavailable):
            await alice.lookup("alice")

        def background_tasks() -> int:
            return sum("registry client" in task.get_name() for task in asyncio.all_tasks())

        await wait_until(lambda: background_tasks() == 1)  # the twin's: alice's stopped
        assert twin.online() == frozenset({"alice"})
        assert await twin.lookup("alice") == PeerLocation(
            address=elsewhere, key=keys.identity_key, relay=True
        )
        await alice.sign_out()
        await twin.sign_out()
        await server.close()

    run(scenario())


def test_sign_out_while_reconnecting_stops_everything() -> None:
    async def scenario() -> None:
        server = await started()
        client, events = directory(server.address[1], reconnect_cap=0.2), Recorder()
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
        client = directory(server.address[1])
        await client.sign_in("alice", HERE, Recorder())
        with pytest.raises(RuntimeError):
            await client.sign_in("alice", HERE, Recorder())
        await client.sign_out()
        await server.close()

    run(scenario())


def test_a_registry_shutting_down_does_not_report_everyone_offline() -> None:
    """Peers can still reach each other directly; only the registry went away."""

    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        listeners = [Recorder(), Recorder()]
        directories = [directory(port, reconnect_cap=0.05) for _ in range(2)]
        for n, (client, listener) in enumerate(zip(directories, listeners, strict=True)):
            await client.sign_in(f"user{n}", PeerAddress(host="127.0.0.1", port=4000 + n), listener)
        await wait_until(lambda: all(d.online() == {"user0", "user1"} for d in directories))
        await server.close()
        await wait_until(lambda: all(r.status is RegistryStatus.RECONNECTING for r in listeners))
        assert all(d.online() == {"user0", "user1"} for d in directories)
        for client in directories:
            await client.sign_out()

    run(scenario())


def test_the_registry_remembers_every_name_across_restarts(tmp_path: Path) -> None:
    """Offline is not unknown: a name that ever signed in is offline, others are unknown."""

    async def scenario() -> None:
        book = NameBook(tmp_path / "registry.sqlite3")
        server = await started(names=book)
        bob = directory(server.address[1])
        await bob.sign_in("bob", PeerAddress(host="127.0.0.1", port=4001), Recorder())
        await bob.sign_out()
        await server.close()
        book.close()

        book = NameBook(tmp_path / "registry.sqlite3")  # a restarted registry
        server = await started(names=book)
        alice = directory(server.address[1])
        await alice.sign_in("alice", PeerAddress(host="127.0.0.1", port=4000), Recorder())
        with pytest.raises(UserOffline):
            await alice.lookup("Bob")
        with pytest.raises(UnknownUser):
            await alice.lookup("carol")
        await alice.sign_out()
        await server.close()
        book.close()

    run(scenario())


# -- the registry's key, pinned ------------------------------------------------------------------


def test_the_registry_key_is_pinned_on_first_use_and_a_changed_one_refused(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        pins = RegistryPins(tmp_path / "registry-pins.json")
        first_keys = LocalKeys.generate()
        server = await started(keys=first_keys)
        port = server.address[1]
        where = registry_address("127.0.0.1", port)
        me = LocalKeys.generate()
        client = directory(port, me, pins=pins)
        await client.sign_in("alice", HERE, Recorder())
        assert pins.get(where) == first_keys.identity_key
        await client.sign_out()
        await server.close()

        impostor_keys = LocalKeys.generate()
        impostor = await started(port, keys=impostor_keys)  # same address, another key
        events = Recorder()
        with pytest.raises(RegistryKeyChanged) as changed:
            await directory(port, me, pins=pins).sign_in("alice", HERE, events)
        text = str(changed.value)
        assert fingerprint(impostor_keys.identity_key) in text
        assert fingerprint(first_keys.identity_key) in text
        assert "--registry-key" in text
        assert events.statuses == []
        assert pins.get(where) == first_keys.identity_key  # the pin stands
        assert impostor.online() == frozenset()  # we never said who we are, nor registered

        # The operator confirms the new key: given explicitly, it signs in and replaces the pin.
        confirmed = directory(
            port, me, pins=pins, registry_key=fingerprint(impostor_keys.identity_key)
        )
        assert await confirmed.sign_in("alice", HERE, Recorder()) == "alice"
        assert pins.get(where) == impostor_keys.identity_key
        await confirmed.sign_out()
        # From then on the pin alone is enough.
        again = directory(port, me, pins=pins)
        assert await again.sign_in("alice", HERE, Recorder()) == "alice"
        await again.sign_out()
        await impostor.close()

    run(scenario())


def test_a_given_registry_key_is_checked_even_on_first_use(tmp_path: Path) -> None:
    async def scenario() -> None:
        pins = RegistryPins(tmp_path / "registry-pins.json")
        server_keys = LocalKeys.generate()
        server = await started(keys=server_keys)
        port = server.address[1]
        wrong = fingerprint(LocalKeys.generate().identity_key)
        with pytest.raises(RegistryKeyChanged, match="--registry-key"):
            await directory(port, pins=pins, registry_key=wrong).sign_in("alice", HERE, Recorder())
        assert pins.get(registry_address("127.0.0.1", port)) is None
        assert server.online() == frozenset()
        # Typed any way (case, spacing), the right fingerprint is the right one.
        typed = fingerprint(server_keys.identity_key).replace(" ", "").upper()
        client = directory(port, pins=pins, registry_key=typed)
        assert await client.sign_in("alice", HERE, Recorder()) == "alice"
        assert pins.get(registry_address("127.0.0.1", port)) == server_keys.identity_key
        await client.sign_out()
        await server.close()

    run(scenario())


def test_a_registry_that_comes_back_with_another_key_is_not_rejoined(tmp_path: Path) -> None:
    async def scenario() -> None:
        pins = RegistryPins(tmp_path / "registry-pins.json")
        server = await started(heartbeat_interval=0.2, idle_timeout=1.0)
        port = server.address[1]
        client, events = directory(port, pins=pins, reconnect_cap=0.1), Recorder()
        await client.sign_in("alice", HERE, events)
        await server.close()
        impostor = await started(port, heartbeat_interval=0.2, idle_timeout=1.0)
        await wait_until(
            lambda: any("posing" in detail for _, detail in events.statuses),
            what="the client to say the registry's key changed",
        )
        assert events.status is RegistryStatus.RECONNECTING
        assert impostor.online() == frozenset()
        with pytest.raises(RegistryUnavailable):
            await client.lookup("alice")
        await client.sign_out()
        assert impostor.online() == frozenset()
        await impostor.close()

    run(scenario())


def test_a_changed_registry_key_is_said_once_and_retried_ever_more_slowly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key mismatch will not fix itself in a few seconds: one warning and one status for it,
    not one per attempt, and attempts back off past ``reconnect_cap`` (up to 60 s)."""
    caplog.set_level(logging.DEBUG, logger="chinwag.adapters.registry.client")

    def attempts() -> list[float]:
        return [
            record.created
            for record in caplog.records
            if "not reconnecting" in record.getMessage() or "still proves" in record.getMessage()
        ]

    async def scenario() -> None:
        pins = RegistryPins(tmp_path / "registry-pins.json")
        server = await started(heartbeat_interval=0.2, idle_timeout=1.0)
        port = server.address[1]
        client, events = directory(port, pins=pins, reconnect_cap=0.1), Recorder()
        await client.sign_in("alice", HERE, events)
        await server.close()
        impostor = await started(port, heartbeat_interval=0.2, idle_timeout=1.0)
        await wait_until(lambda: len(attempts()) >= 5, what="five attempts at the impostor")
        await client.sign_out()
        await impostor.close()
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "posing" in warnings[0].getMessage()
        assert sum("posing" in detail for _, detail in events.statuses) == 1
        times = attempts()
        # Attempts every reconnect_cap (0.1 s) would be at most ~0.1 s apart; doubling from
        # 0.1 s, the fifth waits at least 0.4 s.
        assert times[4] - times[3] >= 0.3

    run(scenario())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_registry_is_pinned_under_its_registry_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        pins = RegistryPins(tmp_path / "registry-pins.json")
        server_keys = LocalKeys.generate()
        server = RegistryServer("::1", 0, security=Security(server_keys))
        _, port = await server.start()
        client = RegistryDirectory("::1", port, security=Security(LocalKeys.generate()), pins=pins)
        try:
            await client.sign_in("alice", HERE, Recorder())
            await client.sign_out()
        finally:
            await server.close()
        assert pins.get(registry_address("::1", port)) == server_keys.identity_key

    run(scenario())
