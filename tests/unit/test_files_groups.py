"""File offers in a group: signed with the message, refused alone by a member whose limit
they pass (the author's later messages still reach that member)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.application.files import Transfers
from chinwag.domain.message import MessageState
from chinwag.domain.transfer import Direction, FileLimits, TransferState
from tests.unit.files_world import FakeFiles, content, offer_of
from tests.unit.groups_world import User, World

OFFER_ID = UUID(int=0x77)


def run(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


def engine_of(user: User, limits: FileLimits) -> Transfers:
    return Transfers(
        user.session,
        user.directory,
        user.transport,
        user.messages.transfers,
        FakeFiles(),
        InMemoryContactRepository(),
        user.trust,
        user.events,
        user.clock,
        limits,
    )


def test_a_group_offer_too_large_for_a_member_is_refused_there_and_the_order_goes_on() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id

        async def everyone_knows() -> bool:
            return all([await u.book.view(group) is not None for u in (bob, carol)])

        await world.until(everyone_knows)
        carol.intake._files = engine_of(carol, FileLimits(max_size=100))
        bob.intake._files = engine_of(bob, FileLimits())
        offer = offer_of(content(1000), name="big.bin")
        posted = await alice.post.execute(group, "big.bin", file=offer, message_id=OFFER_ID)
        assert posted.id == OFFER_ID
        assert posted.file == offer
        await alice.post.execute(group, "after it")

        async def carol_has_the_next() -> bool:
            return "after it" in await carol.bodies(group)

        await world.until(carol_has_the_next)
        assert await carol.messages.get(OFFER_ID) is None
        assert await carol.messages.transfers.of_id(OFFER_ID) == []
        stored = await bob.messages.get(OFFER_ID)
        assert stored is not None and stored.file == offer
        [record] = await bob.messages.transfers.of_id(OFFER_ID)
        assert (record.direction, record.peer, record.group_id) == (Direction.IN, "alice", group)
        assert record.state is TransferState.OFFERED
        assert [t.id for t, _ in bob.events.transfers] == [OFFER_ID]

        async def carols_delivery_failed() -> bool:
            deliveries = {d.recipient: d for d in await alice.messages.deliveries(OFFER_ID)}
            return deliveries["carol"].state is MessageState.FAILED

        await world.until(carols_delivery_failed)
        deliveries = {d.recipient: d for d in await alice.messages.deliveries(OFFER_ID)}
        assert deliveries["carol"].reason == (
            "carol takes files up to 100 bytes; this one is 1000 bytes"
        )
        assert deliveries["bob"].state is MessageState.DELIVERED

    run(scenario)
