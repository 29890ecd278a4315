"""Pulls that must not spin, stall or leave a file behind: found in review (issue 11)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from chinwag.domain.transfer import TransferState
from tests.support import wait_until
from tests.unit.files_world import DOWNLOADS, PIECE, World, content, incoming, offer_of

DONE = TransferState.DONE


def test_a_full_disk_the_free_space_does_not_show_pauses_without_spinning() -> None:
    async def scenario() -> None:
        world = World()
        data = content(4 * PIECE)
        sender = world.serve(data)
        world.files.limit_unseen = True  # EFBIG, a quota: has_room says yes all the same
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.PAUSED)
        asked = len(sender.asked)
        await asyncio.sleep(0.3)  # the pause lasts: tries are paced (FAST: 10 ms at first)
        assert len(sender.asked) - asked <= 5 * 8, "it keeps asking at full speed"
        told = world.states()
        assert told.count(TransferState.PAUSED) <= 2, told  # paused once, not flapping
        world.files.limit_unseen = False
        await world.until_state(DONE)
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_busy_sender_delays_one_piece_and_the_transfer_goes_on() -> None:
    async def scenario() -> None:
        world = World()
        data = content(6 * PIECE)
        sender = world.serve(data)
        sender.busy = {1, 4}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(DONE)
        assert TransferState.PAUSED not in world.states()
        assert sorted(sender.asked) == [0, 1, 1, 2, 3, 4, 4, 5]  # only those two again
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_sign_out_while_the_file_is_placed_records_it_done_and_fetches_nothing_again() -> None:
    async def scenario() -> None:
        world = World()
        data = content(3 * PIECE)
        sender = world.serve(data)
        world.files.placing = asyncio.Event()
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await wait_until(lambda: bool(world.files.finished), what="finish under way")
        stopping = asyncio.create_task(world.engine.stop())  # sign-out mid-finish
        await asyncio.sleep(0.01)
        world.files.placing.set()
        await stopping
        record = await world.record()
        assert record.state is DONE and record.path == f"{DOWNLOADS}/photo.jpg"
        await world.engine.start()  # sign in again: nothing to pull
        await asyncio.sleep(0.05)
        assert sorted(sender.asked) == [0, 1, 2]
        assert list(world.files.saved) == [f"{DOWNLOADS}/photo.jpg"]
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_withdrawn_offer_stops_its_pull_and_its_partial_file_goes() -> None:
    async def scenario() -> None:
        world = World()
        data = content(6 * PIECE)
        sender = world.serve(data)
        sender.hold = {3}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await wait_until(lambda: world.files.writes >= 2, what="pieces written")
        world.store._records.pop((UUID(int=1), "bob"))  # the group's log withdrew it
        sender.released.set()
        await wait_until(lambda: not world.files.partials, what="the partial file discarded")
        await world.engine.stop()

    asyncio.run(scenario())
