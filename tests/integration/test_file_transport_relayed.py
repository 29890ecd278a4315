"""Files over a session relayed by a real registry on loopback: the same frames, the same
scheduler, on a relayed stream (whose writer pauses and drains through the registry leg)."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.relay_client import RegistryRelay
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.application.errors import FileRefused
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route, TransferNotice
from tests.integration.test_file_transport import Sender, content, piece_hashes
from tests.integration.test_registry_server import run, started

pytestmark = pytest.mark.timeout(60)


class Listener:
    def presence_changed(self, online: frozenset[str]) -> None:
        pass

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        pass


class Peer:
    """A client accepting no direct connections: registry client + relay + transport."""

    def __init__(self, name: str, port: int, handler: Sender) -> None:
        self.name = name
        self.handler = handler
        self.security = Security(LocalKeys.generate())
        self.directory = RegistryDirectory("127.0.0.1", port, security=self.security)
        self.transport = TcpPeerTransport(self.security, relay=RegistryRelay(self.directory))

    async def start(self) -> Peer:
        await self.transport.listen(self.name, None, self.handler)
        await self.directory.sign_in(self.name, None, Listener())
        return self

    async def stop(self) -> None:
        await self.transport.close()
        await self.directory.sign_out()


def test_pieces_hashes_and_notices_travel_a_relayed_session() -> None:
    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        sender = Sender()
        bob = await Peer("bob", port, sender).start()
        alice = await Peer("alice", port, Sender()).start()
        try:
            data = content(4 * 1024 * 1024 + 99)
            tid = sender.offer(data, piece_size=512 * 1024)
            location = await alice.directory.lookup("bob")
            count = -(-len(data) // (512 * 1024))
            pieces = await asyncio.gather(
                *(alice.transport.fetch_piece("bob", location, tid, i, 5.0) for i in range(count))
            )
            assert b"".join(pieces) == data
            assert alice.transport.route("bob") is Route.RELAYED
            hashes = await alice.transport.fetch_hashes("bob", location, tid, 0)
            assert hashes == b"".join(piece_hashes(data, 512 * 1024))
            await alice.transport.send_notice("bob", location, TransferNotice(tid, "done"))
            assert sender.notices == [("alice", TransferNotice(tid, "done"))]
            gone = uuid4()
            sender.refuse[gone] = FileRefused("unknown_transfer", "no such offer")
            with pytest.raises(FileRefused) as refused:
                await alice.transport.fetch_piece("bob", location, gone, 0, 5.0)
            assert refused.value.reason == "unknown_transfer"
        finally:
            await alice.stop()
            await bob.stop()
            await server.close()

    run(scenario(), timeout=50)
