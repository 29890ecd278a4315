"""Pulling an incoming file: the engine's loop against a fake sender and an in-memory disk."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from uuid import UUID

import pytest

from chinwag.domain.transfer import TransferState
from tests.support import wait_until
from tests.unit.files_world import DOWNLOADS, FAST, PIECE, World, content, incoming, offer_of

DONE = TransferState.DONE


@pytest.mark.parametrize("size", [0, 1, PIECE, 5 * PIECE + 123])
def test_a_file_arrives_whole_and_the_sender_is_told(size: int) -> None:
    async def scenario() -> None:
        world = World()
        data = content(size)
        world.serve(data)
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        accepted = await world.engine.accept(UUID(int=1))
        assert accepted.state is TransferState.ACTIVE
        assert accepted.directory == DOWNLOADS
        await world.until_state(DONE)
        record = await world.record()
        assert record.path == f"{DOWNLOADS}/photo.jpg"
        assert world.files.saved[record.path] == data
        assert record.bytes == size
        sender = world.transport.sender("bob")
        assert sorted(sender.asked) == list(range(-(-size // PIECE)))  # each piece once
        assert world.files.finished == [True]  # hashed as it came: not read back
        await wait_until(lambda: bool(sender.notices), what="the done notice")
        assert sender.notices[0][1].state == "done"
        await wait_until(lambda: not world.store._records[(UUID(int=1), "bob")].notice)
        await world.engine.stop()

    asyncio.run(scenario())


def test_damaged_and_swapped_pieces_are_asked_again_and_the_file_is_right() -> None:
    async def scenario() -> None:
        world = World()
        data = content(12 * PIECE)
        sender = world.serve(data)
        sender.damage = {2: 2, 7: 1}
        sender.swap = {4: 5, 5: 4}  # 4 and 5 come the other way round, once
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(DONE)
        record = await world.record()
        assert record.path is not None
        saved = world.files.saved[record.path]
        assert hashlib.sha256(saved).digest() == hashlib.sha256(data).digest()
        assert sender.asked.count(2) == 3
        assert sender.asked.count(7) == 2
        assert sender.asked.count(4) == 2
        assert sender.asked.count(5) == 2
        assert world.files.finished == [True]  # late pieces waited for the running hash
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_piece_damaged_three_times_in_a_row_fails_the_transfer() -> None:
    async def scenario() -> None:
        world = World()
        data = content(3 * PIECE)
        world.serve(data).damage = {1: 10}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.FAILED)
        record = await world.record()
        assert record.reason == "bob keeps sending damaged pieces"
        assert world.transport.sender("bob").asked.count(1) == 3
        assert world.files.partials == {}  # the partial file went
        assert DONE not in world.states()
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_file_that_never_matches_its_hash_is_never_done() -> None:
    async def scenario() -> None:
        world = World()
        data = content(3 * PIECE)
        offer = offer_of(data).model_copy(update={"sha256": hashlib.sha256(b"other").digest()})
        world.serve(data)
        await world.start("bob")
        world.store.insert(incoming(offer))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.FAILED)
        assert (await world.record()).reason == "the file never matched its hash"
        assert world.files.finished == [False]  # the running hash said no: read back, once
        assert DONE not in world.states()
        assert world.files.saved == {}
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_piece_list_that_does_not_match_the_offer_fails() -> None:
    async def scenario() -> None:
        world = World()
        data = content(3 * PIECE)
        world.serve(data).hashes = bytes(32) * 3
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.FAILED)
        assert (await world.record()).reason == "the sender's piece list does not match its offer"
        assert world.transport.sender("bob").asked == []
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_stopped_pull_resumes_with_the_pieces_it_lacks() -> None:
    async def scenario() -> None:
        world = World()
        data = content(20 * PIECE)
        sender = world.serve(data)
        sender.hold = {5}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await wait_until(lambda: len(sender.asked) == 20, what="every piece asked")
        await wait_until(lambda: world.files.writes == 19, what="all but one written")
        await world.engine.stop()  # sign-out: the checkpoint is stored
        assert (await world.record()).bytes == 19 * PIECE
        first = list(sender.asked)
        sender.hold = set()
        await world.engine.start()
        await world.until_state(DONE)
        again = sender.asked[len(first) :]
        assert again == [5]
        assert world.files.checked[-1] == [5]  # at the resume, only the piece not recorded
        assert world.files.finished == [False]  # resumed: the file is read back and hashed
        await world.engine.stop()

    asyncio.run(scenario())


def test_after_a_crash_the_partial_file_is_checked_and_only_the_rest_asked() -> None:
    async def scenario() -> None:
        world = World()
        data = content(6 * PIECE)
        sender = world.serve(data)
        record = incoming(offer_of(data))
        world.store.insert(
            record.model_copy(update={"state": TransferState.ACTIVE, "directory": DOWNLOADS})
        )
        # pieces 0-3 were written, but the crash came before any checkpoint
        world.files.partials[(DOWNLOADS, record.id)] = bytearray(data[: 4 * PIECE])
        await world.start("bob")
        await world.until_state(DONE)
        assert sorted(sender.asked) == [4, 5]
        assert sender.hash_asks == [0]
        await world.engine.stop()

    asyncio.run(scenario())


def test_an_offline_sender_pauses_it_and_coming_online_resumes_it() -> None:
    async def scenario() -> None:
        world = World(settings=replace(FAST, max_retry_delay=30.0))
        data = content(4 * PIECE)
        world.serve(data)
        await world.start("bob")
        await world.go_offline("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.PAUSED)
        assert (await world.record()).reason == "bob is offline"
        await world.come_online("bob")  # presence wakes the pull long before 30 s
        await world.until_state(DONE, timeout=3.0)
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_stalled_sender_pauses_it_with_a_reason_and_it_goes_on() -> None:
    async def scenario() -> None:
        world = World()
        data = content(4 * PIECE)
        sender = world.serve(data)
        sender.drop = {2}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(DONE)
        reasons = [t.reason for t, _ in world.events.transfers if t.state is TransferState.PAUSED]
        assert reasons == ["no data from bob for 0.2 s"]
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_broken_session_pauses_it_until_the_sender_answers_again() -> None:
    async def scenario() -> None:
        world = World()
        data = content(4 * PIECE)
        sender = world.serve(data)
        sender.away = True
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.PAUSED)
        assert (await world.record()).reason == "the session broke"
        sender.away = False
        await world.until_state(DONE)
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_full_disk_pauses_it_and_room_resumes_it() -> None:
    async def scenario() -> None:
        world = World()
        data = content(4 * PIECE)
        world.serve(data)
        world.files.full = True
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(TransferState.PAUSED)
        assert (await world.record()).reason == "the disk is full: no room in /downloads"
        world.files.full = False
        await world.until_state(DONE)
        record = await world.record()
        assert record.path is not None
        assert world.files.saved[record.path] == data
        await world.engine.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("refusal", "state", "reason"),
    [
        ("cancelled", TransferState.CANCELLED, "bob cancelled it"),
        ("changed", TransferState.FAILED, "the file changed at the sender"),
        ("unknown_transfer", TransferState.FAILED, "bob no longer offers this file"),
    ],
)
def test_the_senders_refusal_ends_it(refusal: str, state: TransferState, reason: str) -> None:
    async def scenario() -> None:
        world = World()
        data = content(2 * PIECE)
        world.serve(data).refuse = refusal
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await world.until_state(state)
        record = await world.record()
        assert record.reason == reason
        assert not record.notice  # the sender knows: it said so
        await world.engine.stop()

    asyncio.run(scenario())


def test_progress_is_told_at_most_four_times_a_second() -> None:
    async def scenario() -> None:
        world = World()
        data = content(64 * PIECE)
        world.serve(data)
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        loop = asyncio.get_running_loop()
        began = loop.time()
        await world.engine.accept(UUID(int=1))
        await world.until_state(DONE)
        seconds = loop.time() - began
        progress = [t for t, _ in world.events.transfers if t.state is TransferState.ACTIVE]
        # the change to active, then progress at most every 0.25 s
        assert len(progress) <= 2 + seconds * 4, (len(progress), seconds)
        assert world.states() == [TransferState.OFFERED, TransferState.ACTIVE, DONE][1:]
        await world.engine.stop()

    asyncio.run(scenario())
