"""The file use cases and the receive path's part: offers sent and taken, limits, auto-accept,
decline and cancel with their notices, the listing."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from uuid import UUID

import pytest

from chinwag.adapters.memory.clock import SequentialIds
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.errors import FileProblem, FileRefused, TransferNotFound, UnknownUser
from chinwag.application.files import FileService
from chinwag.application.ports.peer_transport import Incoming
from chinwag.application.presence import PresenceRelay
from chinwag.application.quota import InboundQuota
from chinwag.application.use_cases import (
    AcceptFile,
    CancelFile,
    DeclineFile,
    ListTransfers,
    PostToGroup,
    ReceiveMessages,
    SendFile,
    SendMessage,
    SignIn,
    SignOut,
)
from chinwag.domain.errors import InvalidStateTransition
from chinwag.domain.transfer import Direction, FileLimits, FileOffer, TransferState
from tests.support import wait_until
from tests.unit.files_world import (
    BOB_KEY,
    DOWNLOADS,
    PIECE,
    World,
    content,
    incoming,
    offer_of,
    piece_hashes,
)

SENT = datetime(2026, 1, 1, tzinfo=UTC)
ABSOLUTE = os.path.abspath(os.path.join("somewhere", "holiday photo.jpg"))


class Stack:
    """Alice's use cases over the files world, with the real courier and receive path."""

    def __init__(self, world: World, *, limits: FileLimits | None = None) -> None:
        self.world = world
        if limits is not None:
            world.engine.limits = limits
        self.messages = InMemoryMessageRepository(world.store)
        self.ledger = ConversationLedger(InMemoryConversationRepository(self.messages))
        self.courier = Courier(
            world.directory,
            world.transport,  # type: ignore[arg-type]  # only deliver and route are used
            self.messages,
            world.events,
            world.trust,
        )
        ids = SequentialIds(prefix=5)
        self.send_message = SendMessage(
            world.session,
            world.directory,
            self.messages,
            self.ledger,
            self.courier,
            world.events,
            world.clock,
            ids,
        )
        self.send_file = SendFile(
            world.session,
            world.files,
            world.engine,
            self.send_message,
            PostToGroup.__new__(PostToGroup),  # not used: offers to people only here
            world.clock,
            ids,
        )
        self.service = FileService(world.engine, world.files)
        self.receive = ReceiveMessages(
            world.session,
            self.messages,
            self.ledger,
            world.events,
            world.trust,
            self.courier,
            world.clock,
            InboundQuota(),
            None,
            self.service,
        )

    async def offer_from(self, peer: str, offer: FileOffer, n: int) -> tuple[str, str] | None:
        """``peer`` delivers an offer to alice; the refusal, if any."""
        intake = await self.receive.messages_received(
            peer, [Incoming(UUID(int=n), peer, "alice", offer.name, SENT, file=offer)]
        )
        if UUID(int=n) in intake.rejected:
            return intake.rejected[UUID(int=n)]
        assert list(intake.committed) == [UUID(int=n)]
        return None

    async def close(self) -> None:
        await self.world.engine.stop()
        await self.courier.close()


def test_send_file_records_the_transfer_first_then_sends_the_offer() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world)
        data = content(3 * PIECE + 1)
        path = os.path.join("somewhere", "holiday photo.jpg")
        world.files.sources[ABSOLUTE] = data
        seen_at_add: list[bool] = []
        add = world.store.add

        async def watched_add(transfer: object) -> bool:
            seen_at_add.append(await stack.messages.get(transfer.id) is None)  # type: ignore[attr-defined]
            return await add(transfer)  # type: ignore[arg-type]

        world.store.add = watched_add  # type: ignore[method-assign]
        record = await stack.send_file.execute(path, to="Bob")
        assert seen_at_add == [True]  # the record came before the message
        assert record.direction is Direction.OUT
        assert record.peer == "bob"
        assert record.path == ABSOLUTE
        assert record.state is TransferState.OFFERED
        assert await world.store.hashes(record.id) == piece_hashes(data, 512 * 1024)
        message = await stack.messages.get(record.id)
        assert message is not None
        assert message.file == record.offer
        assert message.body == "holiday photo.jpg"
        assert record.offer.name == "holiday photo.jpg"
        assert record.offer.size == len(data)
        assert world.events.transfers[-1][0] == record
        await wait_until(lambda: bool(world.transport.delivered), what="the offer delivered")
        assert world.transport.delivered[0].file == record.offer
        await stack.close()

    asyncio.run(scenario())


def test_send_file_refuses_what_it_cannot_send() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world)
        with pytest.raises(FileProblem, match="does not exist"):
            await stack.send_file.execute("/nowhere/x.bin", to="bob")
        assert await world.store.listing() == []
        world.files.sources["/tmp/x.bin"] = b"x"
        with pytest.raises(UnknownUser):  # said before the file is hashed or recorded
            await stack.send_file.execute("/tmp/x.bin", to="nobody")
        assert await world.store.listing() == []
        with pytest.raises(ValueError, match="one person or to one group"):
            await stack.send_file.execute("/tmp/x.bin")
        await stack.close()

    asyncio.run(scenario())


def test_an_offer_larger_than_the_limit_is_refused_with_the_reason() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world, limits=FileLimits(max_size=4 * 2**30))
        huge = offer_of(b"").model_copy(update={"size": int(5.2 * 2**30), "piece_size": PIECE * 32})
        assert await stack.offer_from("bob", huge, 1) == (
            "file_too_large",
            "alice takes files up to 4.0 GiB; this one is 5.2 GiB",
        )
        assert await stack.messages.get(UUID(int=1)) is None
        assert await world.store.listing() == []
        small = offer_of(content(10))
        assert await stack.offer_from("bob", small, 2) is None
        record = await world.record(2)
        assert record.state is TransferState.OFFERED
        assert world.last(2) == record  # shown
        await stack.close()

    asyncio.run(scenario())


def test_only_small_offers_of_verified_contacts_are_accepted_at_once() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob", "carol")
        stack = Stack(world, limits=FileLimits(auto_accept=1000))
        await world.verified("bob", BOB_KEY)
        small, large = content(500), content(2000)
        world.serve(small)
        assert await stack.offer_from("bob", offer_of(small), 1) is None
        await world.until_state(TransferState.DONE, 1)
        assert await stack.offer_from("bob", offer_of(large), 2) is None
        assert await stack.offer_from("carol", offer_of(small), 3) is None  # not verified
        await asyncio.sleep(0)
        assert (await world.record(2)).state is TransferState.OFFERED
        assert (await world.record(3, "carol")).state is TransferState.OFFERED
        await stack.close()

    asyncio.run(scenario())


def test_accept_decline_and_their_refusals() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        accept, decline = (
            AcceptFile(world.session, world.engine),
            DeclineFile(world.session, world.engine),
        )
        with pytest.raises(TransferNotFound):
            await accept.execute(UUID(int=1))
        data = content(PIECE)
        world.serve(data)
        world.store.insert(incoming(offer_of(data), n=1))
        world.store.insert(incoming(offer_of(data), n=2))
        declined = await decline.execute(UUID(int=1))
        assert declined.state is TransferState.DECLINED
        assert declined.notice
        with pytest.raises(InvalidStateTransition, match="it cannot be accepted"):
            await accept.execute(UUID(int=1))
        accepted = await accept.execute(UUID(int=2), "/elsewhere")
        assert accepted.directory == "/elsewhere"
        await world.until_state(TransferState.DONE, 2)
        with pytest.raises(InvalidStateTransition, match="only an offered file"):
            await decline.execute(UUID(int=2))
        sender = world.transport.sender("bob")
        await wait_until(lambda: len(sender.notices) == 2, what="two notices")
        assert sorted(n.state for _, n in sender.notices) == ["declined", "done"]
        await world.engine.stop()

    asyncio.run(scenario())


def test_a_notice_that_cannot_be_given_is_given_when_the_peer_is_back() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        sender = world.transport.sender("bob")
        sender.notices_fail = True
        world.store.insert(incoming(offer_of(content(10))))
        await DeclineFile(world.session, world.engine).execute(UUID(int=1))
        await asyncio.sleep(0.05)
        assert sender.notices == []
        assert (await world.record()).notice
        sender.notices_fail = False
        await world.go_offline("bob")
        await world.come_online("bob")  # presence: tried again at once, not after seconds
        await wait_until(lambda: bool(sender.notices), timeout=0.9, what="the notice")
        await wait_until(lambda: not world.store._records[(UUID(int=1), "bob")].notice)
        await world.engine.stop()
        # a notice left over from last time goes out at the next sign-in
        world.store.insert(
            incoming(offer_of(content(10)), n=2).model_copy(
                update={"state": TransferState.DECLINED, "notice": True}
            )
        )
        await world.engine.start()
        await wait_until(lambda: len(sender.notices) == 2, what="the old notice")
        assert sender.notices[1][1].transfer == UUID(int=2)
        await world.engine.stop()

    asyncio.run(scenario())


def test_cancelling_an_incoming_file_stops_it_and_tells_the_sender() -> None:
    async def scenario() -> None:
        world = World()
        data = content(6 * PIECE)
        sender = world.serve(data)
        sender.hold = {2}
        await world.start("bob")
        world.store.insert(incoming(offer_of(data)))
        await world.engine.accept(UUID(int=1))
        await wait_until(lambda: world.files.writes >= 5, what="the other pieces written")
        cancelled = await CancelFile(world.session, world.engine).execute(UUID(int=1))
        assert cancelled.state is TransferState.CANCELLED
        assert world.files.partials == {}
        asked = len(sender.asked)
        sender.released.set()
        await wait_until(lambda: bool(sender.notices), what="the cancel notice")
        assert sender.notices[0][1].state == "cancelled"
        assert len(sender.asked) == asked
        assert (await world.record()).state is TransferState.CANCELLED
        with pytest.raises(InvalidStateTransition):
            await CancelFile(world.session, world.engine).execute(UUID(int=1))
        await world.engine.stop()

    asyncio.run(scenario())


def test_cancelling_an_outgoing_file_tells_the_recipient() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world)
        world.files.sources["/tmp/a.txt"] = b"hello"
        record = await stack.send_file.execute("/tmp/a.txt", to="bob")
        cancelled = await CancelFile(world.session, world.engine).execute(record.id)
        assert (cancelled.peer, cancelled.state) == ("bob", TransferState.CANCELLED)
        sender = world.transport.sender("bob")
        await wait_until(lambda: bool(sender.notices), what="the cancel notice")
        assert sender.notices[0][1] == type(sender.notices[0][1])(record.id, "cancelled", None)
        await stack.close()

    asyncio.run(scenario())


def test_the_listing_is_newest_first() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        for n in (1, 2, 3):
            record = incoming(offer_of(content(n)), n=n)
            later = record.created_at.replace(minute=n)
            world.store.insert(record.model_copy(update={"created_at": later}))
        statuses = await ListTransfers(world.session, world.engine).execute()
        assert [s.transfer.id.int for s in statuses] == [3, 2, 1]
        assert all(s.rate == 0.0 for s in statuses)
        await world.engine.stop()

    asyncio.run(scenario())


def test_presence_reaches_the_engine() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world)
        relay = PresenceRelay(world.events, stack.courier, files=world.engine)
        woken = asyncio.create_task(world.engine.wakes.wait("carol", 30.0))
        await asyncio.sleep(0)
        relay.presence_changed(frozenset({"alice", "bob", "carol"}))
        assert await asyncio.wait_for(woken, 1.0)
        await stack.close()

    asyncio.run(scenario())


def test_without_a_file_service_requests_are_refused_as_unknown() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world)
        bare = ReceiveMessages(
            world.session,
            stack.messages,
            stack.ledger,
            world.events,
            world.trust,
            stack.courier,
            world.clock,
            InboundQuota(),
        )
        with pytest.raises(FileRefused) as caught:
            await bare.piece_requested("bob", UUID(int=1), 0)
        assert caught.value.reason == "unknown_transfer"
        await stack.close()

    asyncio.run(scenario())


def test_the_default_folder_is_the_stores() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        world.store.insert(incoming(offer_of(b"")))
        world.serve(b"")
        accepted = await AcceptFile(world.session, world.engine).execute(UUID(int=1))
        assert accepted.directory == DOWNLOADS
        await world.until_state(TransferState.DONE)
        await world.engine.stop()

    asyncio.run(scenario())


def test_sign_in_resumes_transfers_and_sign_out_keeps_what_arrived() -> None:
    async def scenario() -> None:
        world = World()
        stack = Stack(world)
        data = content(8 * PIECE)
        sender = world.serve(data)
        sender.hold = {6}
        record = incoming(offer_of(data)).model_copy(
            update={"state": TransferState.PAUSED, "directory": DOWNLOADS}
        )
        world.store.insert(record)
        await world.come_online("bob", wake=False)
        sign_in = SignIn(
            world.session,
            world.directory,
            world.transport,  # type: ignore[arg-type]
            stack.receive,
            world.events,
            stack.messages,
            stack.courier,
            world.trust,
            world.engine,
        )
        await sign_in.execute("alice", None)
        await wait_until(lambda: world.files.writes == 7, what="all but one piece")
        sign_out = SignOut(
            world.session,
            world.directory,
            world.transport,  # type: ignore[arg-type]
            stack.courier,
            world.engine,
        )
        await sign_out.execute()
        assert (await world.record()).bytes == 7 * PIECE
        assert (await world.store.pieces(record.id)) == bytes([0xBF])
        assert (await world.record()).state is TransferState.ACTIVE

    asyncio.run(scenario())


def test_an_offered_name_is_shown_as_it_would_be_saved() -> None:
    async def scenario() -> None:
        world = World()
        await world.start("bob")
        stack = Stack(world)
        hostile = offer_of(content(10), name="../../etc/evil\u202egpj.exe")
        assert await stack.offer_from("bob", hostile, 1) is None
        told = world.last(1)
        assert told is not None
        assert "/" not in told.offer.name and "\u202e" not in told.offer.name
        stored = await world.record(1)
        assert stored.offer.name == hostile.name  # the claim is kept as sent
        declined = await DeclineFile(world.session, world.engine).execute(UUID(int=1))
        assert declined.offer.name == told.offer.name
        [status] = await ListTransfers(world.session, world.engine).execute()
        assert status.transfer.offer.name == told.offer.name
        await stack.close()

    asyncio.run(scenario())
