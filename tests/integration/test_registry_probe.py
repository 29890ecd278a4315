"""The registry's reachability probe, on loopback: it connects back to where a client registered,
proves the key there with Noise message 2 only, and says what it found.

The client end is a real chinwag peer listener (``TcpPeerTransport``) holding the client's key,
another key, or nothing at all: a closed port, and a socket that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest

from chinwag.adapters.secure.channel import RecordLayer, Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.noise import CipherState
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.adapters.wire.codec import FrameDecoder
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake
from chinwag.domain.group import Change
from chinwag.domain.user import PeerAddress
from tests.integration.test_registry_server import DEADLINE, Raw, b64, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

ANY = PeerAddress(host="127.0.0.1", port=0)


class Sessions(Security):
    """A listener's security that counts the sessions its handshakes completed: the responder
    makes one only once it read Noise message 3, which a probe never sends."""

    def __init__(self, keys: LocalKeys) -> None:
        super().__init__(keys)
        self.made = 0

    def records(
        self, send: CipherState, receive: CipherState, decoder: FrameDecoder
    ) -> RecordLayer:
        self.made += 1
        return super().records(send, receive, decoder)


class Handler(NoFiles):
    """A peer listener's application side that records whoever it is asked about."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, bytes]] = []

    async def authorize(self, peer: str, key: bytes) -> None:
        self.asked.append((peer, key))

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        return None

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        return None


@asynccontextmanager
async def peer_listener(
    keys: LocalKeys, handler: Handler | None = None, security: Security | None = None
) -> AsyncIterator[int]:
    """A real chinwag peer listener holding ``keys`` (or ``security``); yields its port."""
    transport = TcpPeerTransport(security or Security(keys))
    address = await transport.listen("someone", ANY, handler or Handler())
    assert address is not None
    try:
        yield address.port
    finally:
        await transport.close()


def closed_port() -> int:
    """A port nothing listens on (bound, noted, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Silent:
    """A socket that accepts connections and never says a word; counts them at once."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        self.most = max(self.most, self.open)
        self._writers.append(writer)
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        finally:
            self.open -= 1
            writer.close()

    async def close(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


# -- what the probe finds ----------------------------------------------------------------------


def test_a_listener_holding_the_registered_key_is_reachable_and_never_asked_who_we_are() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        keys = LocalKeys.generate()
        handler = Handler()
        security = Sessions(keys)
        async with peer_listener(keys, handler, security) as port:
            alice = await Raw.welcomed(server.address, keys)
            await alice.register("alice", port=port)
            pushed = await alice.pushed_reachability()
            assert pushed["reachable"] is True
            assert pushed["reason"] == "ok"
            assert str(port) in pushed["detail"]
            assert "rid" not in pushed
            bob = await Raw.welcomed(server.address)
            await bob.register("bob", port=closed_port())
            found = await bob.request({"type": "lookup", "user": "alice"})
            assert found == {
                "type": "found",
                "rid": 2,
                "user": "alice",
                "host": "127.0.0.1",
                "port": port,
                "key": b64(keys.identity_key),
                "reachable": True,
                "relay": True,
            }
            # The probe stopped after message 2: no session, nobody claimed to be anybody.
            assert security.made == 0
            assert handler.asked == []
        await server.close()

    run(scenario())


def test_a_closed_port_is_refused() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        alice = await Raw.welcomed(server.address)
        port = closed_port()
        await alice.register("alice", port=port)
        pushed = await alice.pushed_reachability()
        assert (pushed["reachable"], pushed["reason"]) == (False, "refused")
        found = await alice.request({"type": "lookup", "user": "alice"})
        assert (found["reachable"], found["port"]) == (False, port)
        await server.close()

    run(scenario())


def test_a_listener_holding_another_key_is_the_wrong_key() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        async with peer_listener(LocalKeys.generate()) as port:
            alice = await Raw.welcomed(server.address)
            await alice.register("alice", port=port)
            pushed = await alice.pushed_reachability()
            assert (pushed["reachable"], pushed["reason"]) == (False, "wrong_key")
            found = await alice.request({"type": "lookup", "user": "alice"})
            assert found["reachable"] is False
        await server.close()

    run(scenario())


def test_a_socket_that_never_answers_times_out() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_timeout=0.3)
        silent = Silent()
        port = await silent.start()
        alice = await Raw.welcomed(server.address)
        await alice.register("alice", port=port)
        pushed = await alice.pushed_reachability()
        assert (pushed["reachable"], pushed["reason"]) == (False, "timeout")
        assert silent.accepted == 1
        await wait_until(lambda: silent.open == 0, what="the probe's connection closed")
        await silent.close()
        await server.close()

    run(scenario())


def test_something_that_answers_garbage_is_a_failed_handshake() -> None:
    async def scenario() -> None:
        async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"\x00\x00\x00\x05hello, who is this?")
            await writer.drain()
            writer.close()

        babbler = await asyncio.start_server(babble, "127.0.0.1", 0)
        port = babbler.sockets[0].getsockname()[1]
        server = await started(probe=True)
        alice = await Raw.welcomed(server.address)
        await alice.register("alice", port=port)
        pushed = await alice.pushed_reachability()
        assert (pushed["reachable"], pushed["reason"]) == (False, "handshake_failed")
        babbler.close()
        await server.close()

    run(scenario())


def test_without_a_port_nobody_is_probed_and_lookups_say_so() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        alice = await Raw.welcomed(server.address)
        registered = await alice.request(
            {"type": "register", "version": 2, "user": "alice", "host": "10.0.0.1"}
        )
        assert registered == {"type": "registered", "rid": 1, "user": "alice"}
        assert (await alice.next())["type"] == "presence"
        pushed = await alice.pushed_reachability()
        assert (pushed["reachable"], pushed["reason"]) == (False, "not_listening")
        bob = await Raw.welcomed(server.address)
        await bob.register("bob", port=closed_port())
        found = await bob.request({"type": "lookup", "user": "alice"})
        assert found == {
            "type": "found",
            "rid": 2,
            "user": "alice",
            "key": b64(alice.key),
            "reachable": False,
            "relay": True,
        }
        answer = await alice.request({"type": "probe"})
        assert (answer["type"], answer["reason"], answer["reachable"]) == (
            "reachability",
            "not_listening",
            False,
        )
        prober = server.reachability.prober
        assert prober is not None
        await wait_until(lambda: prober.probes_made == 1)  # bob's only
        await server.close()

    run(scenario())


def test_with_probing_off_every_client_hears_not_probed_and_lookups_say_unknown() -> None:
    async def scenario() -> None:
        server = await started(probe=False, relay=False)
        async with peer_listener(keys := LocalKeys.generate()) as port:
            alice = await Raw.welcomed(server.address, keys)
            await alice.register("alice", port=port)
            pushed = await alice.pushed_reachability()
            assert (pushed["reachable"], pushed["reason"]) == (False, "not_probed")
            found = await alice.request({"type": "lookup", "user": "alice"})
            assert "reachable" not in found  # not known
            assert found["relay"] is False
            answer = await alice.request({"type": "probe"})
            assert answer["reason"] == "not_probed"
        await server.close()

    run(scenario())


# -- asking again, the cache and the rate ------------------------------------------------------


def test_probe_asks_again_and_its_answer_echoes_the_rid() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_interval=0)
        keys = LocalKeys.generate()
        async with peer_listener(keys) as port:
            alice = await Raw.welcomed(server.address, keys)
            await alice.register("alice", port=port)
            assert (await alice.pushed_reachability())["reason"] == "ok"
        # The listener is gone: a fresh probe (not the cached "ok") finds the port closed.
        answer = await alice.request({"type": "probe"})
        assert answer["type"] == "reachability"
        assert (answer["reachable"], answer["reason"]) == (False, "refused")
        found = await alice.request({"type": "lookup", "user": "alice"})
        assert found["reachable"] is False
        await server.close()

    run(scenario())


def test_a_connection_gets_one_real_probe_per_interval_and_the_last_result_otherwise() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_interval=60)
        prober = server.reachability.prober
        assert prober is not None
        keys = LocalKeys.generate()
        async with peer_listener(keys) as port:
            alice = await Raw.welcomed(server.address, keys)
            await alice.register("alice", port=port)
            assert (await alice.pushed_reachability())["reason"] == "ok"
        assert prober.probes_made == 1
        for _ in range(5):  # the listener is gone, but asking again does not probe again
            answer = await alice.request({"type": "probe"})
            assert (answer["reason"], answer["rid"]) == ("ok", alice.rid)
        assert prober.probes_made == 1
        await server.close()

    run(scenario())


def test_a_result_is_cached_for_the_same_address_and_key() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        prober = server.reachability.prober
        assert prober is not None
        keys = LocalKeys.generate()
        async with peer_listener(keys) as port:
            first = await Raw.welcomed(server.address, keys)
            await first.register("alice", port=port)
            assert (await first.pushed_reachability())["reason"] == "ok"
            second = await Raw.welcomed(server.address, keys)  # the same client, reconnected
            await second.register("alice", port=port)
            assert (await second.pushed_reachability())["reason"] == "ok"
        assert prober.probes_made == 1
        await server.close()

    run(scenario())


def test_probes_run_a_few_at_a_time() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_timeout=0.5, max_concurrent_probes=2)
        silent = Silent()
        port = await silent.start()
        clients = [await Raw.welcomed(server.address) for _ in range(6)]
        for n, client in enumerate(clients):
            await client.register(f"user{n}", port=port)
        for client in clients:
            assert (await client.pushed_reachability())["reason"] == "timeout"
        assert silent.accepted == 6
        assert silent.most <= 2
        await silent.close()
        await server.close()

    run(scenario())


# -- never in anybody's way --------------------------------------------------------------------


def test_a_slow_probe_holds_up_no_request_of_anybody() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_timeout=20)
        silent = Silent()
        port = await silent.start()
        alice = await Raw.welcomed(server.address)
        await alice.register("alice", port=port)
        await wait_until(lambda: silent.accepted == 1, what="the probe connected")
        # Alice's own later requests and everybody else's are answered while it waits.
        assert (await alice.request({"type": "ping"}))["type"] == "pong"
        assert (await alice.request({"type": "list"}))["online"] == ["alice"]
        bob = await Raw.welcomed(server.address)
        await bob.register("bob", port=closed_port())
        found = await bob.request({"type": "lookup", "user": "alice"})
        assert found["port"] == port
        assert "reachable" not in found  # not probed yet
        assert alice.reachability == []
        await silent.close()
        await server.close()  # ends the probe under way

    run(scenario())


def test_a_client_gone_before_its_probe_ends_costs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_timeout=0.5)
        silent = Silent()
        port = await silent.start()
        alice = await Raw.welcomed(server.address)
        await alice.register("alice", port=port)
        await wait_until(lambda: silent.accepted == 1, what="the probe connected")
        await alice.close()
        await wait_until(lambda: server.online() == frozenset(), what="alice gone")
        await wait_until(lambda: silent.open == 0, what="the probe over", timeout=DEADLINE)
        bob = await Raw.welcomed(server.address)
        await bob.register("bob", port=closed_port())
        assert (await bob.pushed_reachability())["reason"] == "refused"
        answer = await bob.request({"type": "lookup", "user": "alice"})
        assert answer["code"] == "offline"
        await silent.close()
        await server.close()

    with caplog.at_level(logging.WARNING):
        run(scenario())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_probe_needs_a_registration() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        raw = await Raw.welcomed(server.address)
        answer = await raw.request({"type": "probe"})
        assert answer["code"] == "not_registered"
        await server.close()

    run(scenario())
