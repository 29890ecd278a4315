"""The in-memory transport lets a peer in as the TCP transport does: when a session opens and
before every batch of messages, not on every frame.

Each time a peer is let in, the recipient's application learns that the peer reached it (its
courier may try that peer again). The in-memory twin asked on every frame, group frames too,
which no TCP peer does: tests over it saw wake-ups, and so tries, that the product never makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import pytest

from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.application.errors import PeerRefused, PeerUnreachable
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake
from chinwag.domain.group import Change
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery import message

ALICE_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32
GROUP = UUID("00000000-0000-8000-8000-00000000f00d")


class Bob(NoFiles):
    """bob's side: counts how often alice is let in, and what reaches him; refuses her while
    ``refusing``."""

    def __init__(self) -> None:
        self.let_in = 0
        self.batches = 0
        self.haves = 0
        self.refusing = False

    async def authorize(self, peer: str, key: bytes) -> None:
        if self.refusing:
            raise PeerRefused("identity_changed", "bob holds alice's key")
        self.let_in += 1

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        self.batches += 1
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        self.haves += 1

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        pass


def have() -> GroupHave:
    return GroupHave(group=GROUP, version=0, head=bytes(32), authors={}, reply=False)


async def pair(
    network: InMemoryNetwork, bob: Bob
) -> tuple[InMemoryTransport, InMemoryTransport, PeerLocation]:
    alices = InMemoryTransport(network, ALICE_KEY)
    await alices.listen("alice", None, Bob())
    bobs = InMemoryTransport(network, BOB_KEY)
    address = await bobs.listen("bob", PeerAddress(host="memory", port=0), bob)
    assert address is not None
    return alices, bobs, PeerLocation(address=address, key=BOB_KEY)


def test_a_peer_is_let_in_when_a_session_opens_and_before_every_batch_only() -> None:
    async def scenario() -> None:
        network, bob = InMemoryNetwork(), Bob()
        alices, _, bobs_place = await pair(network, bob)

        await alices.send_have("bob", bobs_place, have())
        assert bob.let_in == 1  # the session opened
        for _ in range(3):
            await alices.send_have("bob", bobs_place, have())
        await network.drain()
        assert (bob.let_in, bob.haves) == (1, 4)  # group frames on an open session: not asked

        await alices.deliver("bob", bobs_place, [message(1)])
        await alices.deliver("bob", bobs_place, [message(2)])
        assert (bob.let_in, bob.batches) == (3, 2)  # asked again before each batch, as over TCP

    asyncio.run(scenario())


def test_a_session_ends_when_its_recipient_is_gone_or_refuses_and_the_next_one_asks_again() -> None:
    async def scenario() -> None:
        network, bob = InMemoryNetwork(), Bob()
        alices, bobs, bobs_place = await pair(network, bob)
        await alices.send_have("bob", bobs_place, have())
        assert bob.let_in == 1

        bob.refusing = True  # bob's user holds alice's key now: the batch ends the session
        with pytest.raises(PeerRefused):
            await alices.deliver("bob", bobs_place, [message(1)])
        bob.refusing = False
        await alices.send_have("bob", bobs_place, have())
        assert bob.let_in == 2  # a new session: asked again

        await bobs.close()  # bob signs out: his session is gone
        with pytest.raises(PeerUnreachable):
            await alices.send_have("bob", bobs_place, have())
        again = Bob()
        await bobs.listen("bob", bobs_place.address, again)  # and back, at the same place
        await alices.send_have("bob", bobs_place, have())
        assert again.let_in == 1

        assert bobs_place.address is not None
        network.blocked.add(bobs_place.address)  # a firewall: the session is cut
        with pytest.raises(PeerUnreachable):
            await alices.send_have("bob", bobs_place, have())

    asyncio.run(scenario())
