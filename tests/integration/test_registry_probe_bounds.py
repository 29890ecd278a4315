"""The reachability probe's bounds, on loopback: it connects only to the address a client
connects from, repeats nothing the other end said, is rate-limited per key and per address
(not per connection), and tries a failed probe again by itself.

These began as a review's attacks (issue 9): the probe went wherever a client said it listened
(a port scanner and SSRF oracle run from the registry's position, leaking the first bytes of
whatever answered), its "one probe per connection every 5 s" was beaten by reconnecting, and a
port opened after registration was never probed again.

Some tests need a second loopback address (``127.0.0.2``, there on Linux) as "somewhere else";
they are skipped where it is not.
"""

from __future__ import annotations

import asyncio
import itertools
import socket

import pytest

from chinwag.adapters.registry import protocol as registry_protocol
from chinwag.adapters.registry.probe import ProbeResult
from chinwag.adapters.registry.reachability import A_HOST_NAME, NOT_ITS_ADDRESS
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security, open_secure
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.adapters.wire.codec import encode
from chinwag.domain.user import PeerAddress
from tests.integration.test_registry_probe import Handler, closed_port, peer_listener
from tests.integration.test_registry_server import DEADLINE, OPENED, Address, Raw, run, started
from tests.secure_support import RecordTap, read_clear_frame
from tests.support import wait_until

pytestmark = pytest.mark.timeout(30)

ELSEWHERE = "127.0.0.2"
"""An address the test clients (at 127.0.0.1) do not connect from."""


def _alias_works() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind((ELSEWHERE, 0))
    except OSError:
        return False
    return True


needs_alias = pytest.mark.skipif(not _alias_works(), reason=f"{ELSEWHERE} is not loopback here")


async def welcomed_from(local_ip: str, address: Address, keys: LocalKeys | None = None) -> Raw:
    """A :class:`Raw` registry session whose connection comes from ``local_ip``."""
    tap = RecordTap(keys)
    reader, writer = await asyncio.open_connection(*address, local_addr=(local_ip, 0))
    OPENED.append(writer)
    async with asyncio.timeout(DEADLINE):
        welcome = await read_clear_frame(reader)
        stream = await open_secure(
            reader,
            writer,
            tap,
            prologue=registry_protocol.PROLOGUE + encode(welcome),
            max_frame=registry_protocol.MAX_SERVER_FRAME,
        )
    return Raw(stream, tap)


class InternalService:
    """A non-chinwag TCP service at ``host`` (think: Redis on the registry's own machine):
    counts who connects, and answers like Redis."""

    def __init__(self, host: str = ELSEWHERE) -> None:
        self.host = host
        self.connections = 0
        self.received = bytearray()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            self.received += await reader.read(4096)
            writer.write(b"-ERR unknown command 'SECRET-BANNER'\r\n")
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def prober_of(server: RegistryServer) -> int:
    prober = server.reachability.prober
    assert prober is not None
    return prober.probes_made


# -- only the client's own address -------------------------------------------------------------


@needs_alias
def test_the_probe_never_connects_to_an_address_the_client_does_not_connect_from() -> None:
    async def scenario() -> None:
        service = InternalService()
        port = await service.start()
        server = await started(probe=True)
        mallory = await Raw.welcomed(server.address)  # connects from 127.0.0.1
        answer = await mallory.register("mallory", port=port, host=ELSEWHERE)
        assert (answer["host"], answer["port"]) == (ELSEWHERE, port)  # recorded, as announced
        pushed = await mallory.pushed_reachability()
        asked = await mallory.request({"type": "probe"})
        found = await mallory.request({"type": "lookup", "user": "mallory"})
        await server.close()
        await service.close()
        assert service.connections == 0, f"the registry connected to {ELSEWHERE}:{port}"
        for said in (pushed, asked):
            assert (said["reachable"], said["reason"]) == (False, "not_probed")
            assert said["detail"] == NOT_ITS_ADDRESS.detail
        assert "reachable" not in found  # not known: never claimed either way
        assert prober_of(server) == 0

    run(scenario())


@needs_alias
def test_an_open_and_a_closed_port_elsewhere_are_told_apart_by_nothing() -> None:
    async def scenario() -> None:
        service = InternalService()
        open_port = await service.start()
        with socket.socket() as sock:
            sock.bind((ELSEWHERE, 0))
            closed = sock.getsockname()[1]
        server = await started(probe=True, probe_interval=0.0)
        said = {}
        for n, port in enumerate((open_port, closed)):
            client = await Raw.welcomed(server.address)
            await client.register(f"scanner{n}", port=port, host=ELSEWHERE)
            pushed = await client.pushed_reachability()
            said[port] = (pushed["reachable"], pushed["reason"], pushed["detail"])
        await server.close()
        await service.close()
        assert said[open_port] == said[closed] == (False, "not_probed", NOT_ITS_ADDRESS.detail)
        assert service.connections == 0

    run(scenario())


@needs_alias
def test_a_client_is_probed_at_the_address_it_connects_from_whichever_it_is() -> None:
    """The other side of the rule: a client at 127.0.0.2 announcing 127.0.0.2 is probed."""

    async def scenario() -> None:
        server = await started(probe=True)
        keys = LocalKeys.generate()
        transport = TcpPeerTransport(Security(keys))
        listening = await transport.listen("x", PeerAddress(host=ELSEWHERE, port=0), Handler())
        assert listening is not None
        client = await welcomed_from(ELSEWHERE, server.address, keys)
        await client.register("carol", port=listening.port, host=ELSEWHERE)
        pushed = await client.pushed_reachability()
        await transport.close()
        await server.close()
        assert (pushed["reachable"], pushed["reason"]) == (True, "ok")

    run(scenario())


def test_another_address_or_a_host_name_is_not_probed_nor_looked_up() -> None:
    async def scenario() -> None:
        server = await started(probe=True)
        keys = LocalKeys.generate()
        async with peer_listener(keys) as port:  # on 127.0.0.1, holding the right key
            for host, refusal in (
                ("localhost", A_HOST_NAME),
                ("10.0.0.1", NOT_ITS_ADDRESS),
                ("::1", NOT_ITS_ADDRESS),  # loopback too, but not the 127.0.0.1 it comes from
            ):
                client = await Raw.welcomed(server.address, keys)
                await client.register("alice", port=port, host=host)
                pushed = await client.pushed_reachability()
                said = (pushed["reachable"], pushed["reason"], pushed["detail"])
                assert said == (False, "not_probed", refusal.detail), host
                found = await client.request({"type": "lookup", "user": "alice"})
                assert (found["host"], "reachable" in found) == (host, False)
        assert prober_of(server) == 0
        await server.close()

    run(scenario())


def test_the_probe_repeats_nothing_the_other_end_sent() -> None:
    """Whatever answers at the client's port, the client hears a fixed text: no number read
    from its first bytes, no banner, no error text of the registry's parser."""

    async def scenario() -> None:
        service = InternalService("127.0.0.1")
        port = await service.start()
        server = await started(probe=True)
        client = await Raw.welcomed(server.address)
        await client.register("dave", port=port)
        pushed = await client.pushed_reachability()
        await server.close()
        await service.close()
        assert service.connections == 1  # its own address: probed
        assert (pushed["reachable"], pushed["reason"]) == (False, "handshake_failed")
        assert pushed["detail"] == (
            f"127.0.0.1:{port} accepted the connection but not a chinwag handshake"
        )

    run(scenario())


# -- rate limits: per key and per address ------------------------------------------------------


def test_reconnecting_with_new_ports_buys_no_more_probes_for_a_key() -> None:
    """One key, eight connections in a row, each with another port: one real probe now, the
    last connection's when the key's interval is over; none for those replaced meanwhile."""

    async def scenario() -> None:
        server = await started(probe=True, probe_interval=2.0)
        keys = LocalKeys.generate()
        first = await Raw.welcomed(server.address, keys)
        await first.register("scanner", port=closed_port())
        assert (await first.pushed_reachability())["reason"] == "refused"
        clients = []
        for _ in range(7):
            client = await Raw.welcomed(server.address, keys)
            await client.register("scanner", port=closed_port())  # replaces the previous one
            clients.append(client)
        assert prober_of(server) == 1
        for replaced in clients[:-1]:
            assert replaced.reachability == []
        last = await clients[-1].pushed_reachability()
        assert last["reason"] == "refused"
        assert prober_of(server) == 2
        await server.close()

    run(scenario())


def test_many_keys_at_one_address_share_its_probes() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_interval=0.0, max_probes_per_address_per_minute=2)
        clients = [await Raw.welcomed(server.address) for _ in range(4)]
        for n, client in enumerate(clients):
            await client.register(f"user{n}", port=closed_port())
        first, second, third, fourth = clients
        assert (await first.pushed_reachability())["reason"] == "refused"
        assert (await second.pushed_reachability())["reason"] == "refused"
        # The address's two probes are spent: the others wait for its bucket.
        for client in (third, fourth):
            assert (await client.request({"type": "ping"}))["type"] == "pong"
            assert client.reachability == []
        found = await first.request({"type": "lookup", "user": "user3"})
        assert "reachable" not in found
        # Asking again is answered with the last result, without a probe.
        again = await first.request({"type": "probe"})
        assert (again["reason"], again["rid"]) == ("refused", first.rid)
        assert prober_of(server) == 2
        await server.close()

    run(scenario())


# -- tried again -------------------------------------------------------------------------------


def test_a_port_opened_later_is_found_and_the_client_told() -> None:
    async def scenario() -> None:
        server = await started(
            probe=True,
            probe_interval=0.05,
            probe_cache_seconds=0.05,
            reprobe_after=0.1,
            reprobe_max=0.2,
        )
        port = closed_port()
        bob_keys = LocalKeys.generate()
        bob = await Raw.welcomed(server.address, bob_keys)
        await bob.register("bob", port=port)
        assert (await bob.pushed_reachability())["reason"] == "refused"
        listener = TcpPeerTransport(Security(bob_keys))  # bob opens his port now
        await listener.listen("bob", PeerAddress(host="127.0.0.1", port=port), Handler())
        try:
            pushed = await bob.pushed_reachability(timeout=5)
            assert (pushed["reachable"], pushed["reason"]) == (True, "ok")
            alice = await Raw.welcomed(server.address)
            await alice.register("alice", port=None)
            found = await alice.request({"type": "lookup", "user": "bob"})
            assert found["reachable"] is True
        finally:
            await listener.close()
            await server.close()

    run(scenario())


def test_a_failed_probe_is_tried_again_less_and_less_often_and_told_only_on_change() -> None:
    async def scenario() -> None:
        server = await started(probe=True, probe_interval=0.0, reprobe_after=0.1, reprobe_max=0.4)
        prober = server.reachability.prober
        assert prober is not None
        loop = asyncio.get_running_loop()
        when: list[float] = []
        probe = prober.probe

        async def timed(host: str, port: int, key: bytes, *, fresh: bool = False) -> ProbeResult:
            when.append(loop.time())
            return await probe(host, port, key, fresh=fresh)

        prober.probe = timed  # type: ignore[method-assign]
        client = await Raw.welcomed(server.address)
        await client.register("erin", port=closed_port())
        assert (await client.pushed_reachability())["reason"] == "refused"
        await wait_until(lambda: len(when) >= 6, what="five tries after the first", timeout=10)
        gaps = [b - a for a, b in itertools.pairwise(when)]
        slack = 0.02
        assert gaps[0] >= 0.1 - slack
        assert gaps[1] >= 0.2 - slack
        assert all(gap >= 0.4 - slack for gap in gaps[2:5]), gaps
        assert all(gap < 0.4 + 2.0 for gap in gaps[2:5]), gaps  # capped, not doubling on
        assert (await client.request({"type": "ping"}))["type"] == "pong"
        assert client.reachability == []  # still refused: nothing new to tell
        await server.close()

    run(scenario())
