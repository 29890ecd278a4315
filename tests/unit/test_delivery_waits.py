"""Which news ends a courier's wait, and that two peers refusing each other cannot make it spin.

A courier waits after a try that left deliveries behind; news may end the wait sooner, but
only news that can change the answer (``delivery_waits``). Before, every wake-up ended every
wait, and a peer reaching us (its client is let in before each batch it sends) was such a
wake-up: two peers that each deferred the other's deliveries woke each other with every try,
about 7,000 tries a second each way. The last tests here count the tries of such a pair.
Also here: what a try that was deferred records (what was taken; never an empty write).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import pytest

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier, CourierSettings
from chinwag.application.delivery_waits import Pause, Signal, Wait, wait_of
from chinwag.application.errors import (
    IdentityChanged,
    PeerRefused,
    PeerUnreachable,
    UserOffline,
)
from chinwag.application.ports.directory import PeerLocation, RegistryStatus
from chinwag.application.ports.message_repository import StateChange
from chinwag.application.ports.peer_transport import DeliveryReport, Incoming, Intake
from chinwag.application.quota import InboundQuota
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import ReceiveMessages
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.support import wait_until
from tests.unit.test_delivery import (
    FlakyTransport,
    alices_courier,
    bob_online,
    courier_with,
    message,
    state,
)
from tests.unit.test_delivery_groups import MEMBERS, Alice, group_message

ENDS = {
    Wait.REACH: {Signal.ONLINE, Signal.REGISTRY, Signal.TRUSTED, Signal.REACHED},
    Wait.KEY: {Signal.TRUSTED, Signal.ONLINE},
    Wait.REFUSED: {Signal.TRUSTED, Signal.ONLINE, Signal.REACHED},
    Wait.GROUP: {Signal.TRUSTED, Signal.SYNCED},
}
"""Written out here rather than read from the module, so that a change to it shows."""


async def settle() -> None:
    """Let every task that is ready run (in-memory fakes only: no I/O to wait for)."""
    for _ in range(50):
        await asyncio.sleep(0)


# -- the news table ----------------------------------------------------------------------------


@pytest.mark.parametrize("why", list(Wait))
@pytest.mark.parametrize("signal", list(Signal))
def test_only_news_that_may_help_ends_a_wait(why: Wait, signal: Signal) -> None:
    async def scenario() -> None:
        pause = Pause()
        pause.tried()
        waiting = asyncio.create_task(pause.wait(why, delay=60.0, gap=0.0))
        await settle()
        assert pause.waiting
        pause.tell(signal)
        await settle()
        assert waiting.done() is (signal in ENDS[why])
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (UserOffline("bob is offline"), Wait.REACH),
        (PeerUnreachable("no route", "unreachable"), Wait.REACH),
        (OSError("connection reset"), Wait.REACH),
        (IdentityChanged("bob's key changed"), Wait.KEY),
        (PeerRefused("over_quota", "not now"), Wait.REFUSED),
        (PeerRefused("identity_changed", "bob holds our key"), Wait.REFUSED),
        (PeerRefused("unknown_group", "sync first"), Wait.GROUP),
        (PeerRefused("group_behind", "sync first"), Wait.GROUP),
        (PeerRefused("group_gap", "sync first"), Wait.GROUP),
    ],
)
def test_a_failed_try_waits_for_what_can_change_its_answer(error: Exception, why: Wait) -> None:
    assert wait_of(error) is why


def test_news_during_a_try_ends_the_wait_after_it_and_news_before_it_does_not() -> None:
    async def scenario() -> None:
        pause = Pause()
        pause.tell(Signal.ONLINE)  # before the try: its lookup saw it
        pause.tried()
        waiting = asyncio.create_task(pause.wait(Wait.REACH, delay=60.0, gap=0.0))
        await settle()
        assert not waiting.done()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

        pause.tried()
        pause.tell(Signal.ONLINE)  # during the try: its lookup may have missed it
        async with asyncio.timeout(5):
            await pause.wait(Wait.REACH, delay=60.0, gap=0.0)

    asyncio.run(scenario())


def test_news_from_the_peers_traffic_is_paced_and_slows_down_while_it_does_not_help() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pause = Pause()

        async def paced_wait() -> float:
            """Seconds from a try to the end of the wait a REACHED during it cut short."""
            pause.tried()
            began = loop.time()
            pause.tell(Signal.REACHED)
            async with asyncio.timeout(5):
                await pause.wait(Wait.REACH, delay=60.0, gap=0.05)
            return loop.time() - began

        assert await paced_wait() >= 0.05
        pause.after_try(progress=False)  # that try failed as the one before
        assert await paced_wait() >= 0.1
        pause.after_try(progress=False)
        assert await paced_wait() >= 0.2
        pause.after_try(progress=True)  # it went through: news is news again
        first = await paced_wait()
        assert 0.05 <= first < 0.2

        pause.tried()  # unpaced news (presence) is not held back
        pause.tell(Signal.ONLINE)
        async with asyncio.timeout(0.05):
            await pause.wait(Wait.REACH, delay=60.0, gap=10.0)

    asyncio.run(scenario())


# -- the courier -------------------------------------------------------------------------------


def test_deliveries_deferred_for_a_sync_wait_for_the_sync_not_for_the_peers_traffic() -> None:
    async def scenario() -> None:
        alice = Alice()
        await alice.start(CourierSettings(retry_delay=60.0, wake_gap=0.0), present=MEMBERS)
        alice.transport.defer["carol"] = "group_gap"
        posted = group_message(1)
        await alice.post(posted)
        await alice.events.wait_for(
            lambda: alice.told(posted, "carol")[-1:] == [(MessageState.QUEUED, "group_gap")]
        )
        tries = alice.transport.tries["carol"]

        alice.courier.reached("carol")  # carol's client let in: she is sending us something
        alice.courier.online(frozenset({"carol"}))
        alice.courier.registry_status(RegistryStatus.RECONNECTING)
        alice.courier.registry_status(RegistryStatus.CONNECTED)
        await settle()
        assert alice.transport.tries["carol"] == tries  # none of that can help her take it

        del alice.transport.defer["carol"]
        alice.courier.retry_group("carol")  # a sync with carol completed
        await alice.events.wait_for(
            lambda: alice.delivery(posted, "carol") is MessageState.DELIVERED
        )
        assert alice.transport.tries["carol"] == tries + 1
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_recipient_out_of_reach_is_tried_again_when_it_reaches_us() -> None:
    async def scenario() -> None:
        transport = FlakyTransport(failures=1, cause="unreachable")
        courier, repository, events = await courier_with(
            transport, CourierSettings(retry_delay=60.0, wake_gap=0.0)
        )
        only = message(1)
        await repository.add([only])
        courier.enqueue(only)
        await events.wait_for(lambda: state(events, only.id) is MessageState.QUEUED)
        courier.retry_group("bob")  # not what it waits for
        await settle()
        assert len(transport.batches) == 1

        courier.reached("bob")
        await events.wait_for(lambda: state(events, only.id) is MessageState.DELIVERED)
        assert len(transport.batches) == 2
        await courier.close()

    asyncio.run(scenario())


# -- what a deferral records ------------------------------------------------------------------


class DeferringTransport(FlakyTransport):
    """Acknowledges message 1 and defers the others (``over_quota``)."""

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self.batches.append([m.id for m in messages])
        self.open = self.used
        taken = frozenset(m.id for m in messages if m.id == UUID(int=1))
        deferred = {m.id: "over_quota" for m in messages if m.id not in taken}
        return DeliveryReport(taken, {}, deferred, route=self.used)


class WritesRecorded(InMemoryMessageRepository):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[StateChange]] = []

    async def update_states(self, changes: Sequence[StateChange]) -> list[StateChange]:
        self.writes.append(list(changes))
        return await super().update_states(changes)


def test_a_deferred_batch_records_what_was_taken_and_writes_nothing_empty() -> None:
    async def scenario() -> None:
        transport = DeferringTransport()
        repository = WritesRecorded()
        events = RecordingEvents()
        courier = alices_courier(
            await bob_online(), transport, repository, events, CourierSettings(retry_delay=60.0)
        )
        sent = [message(1), message(2), message(3)]
        await repository.add(sent)
        for m in sent:
            courier.enqueue(m)
        await events.wait_for(lambda: state(events, UUID(int=3)) is MessageState.QUEUED)
        assert transport.batches == [[m.id for m in sent]]
        assert [state(events, m.id) for m in sent] == [
            MessageState.DELIVERED,
            MessageState.QUEUED,
            MessageState.QUEUED,
        ]
        assert [len(write) for write in repository.writes] == [1, 2]  # taken, then queued
        await courier.close()

        # A batch deferred whole: the queued ones are written once, never an empty write.
        repository.writes.clear()
        courier = alices_courier(
            await bob_online(), transport, repository, events, CourierSettings(retry_delay=60.0)
        )
        courier.resume(await repository.pending_deliveries("alice"))
        await wait_until(lambda: len(transport.batches) == 2, what="the second try")
        for _ in range(50):  # let the try end: its answer recorded, the worker waiting
            await asyncio.sleep(0)
        await courier.close()
        assert transport.batches[1] == [UUID(int=2), UUID(int=3)]
        assert all(repository.writes), repository.writes

    asyncio.run(scenario())


# -- two peers that defer each other -----------------------------------------------------------


class Deferring(ReceiveMessages):
    """The receiving side as the product wires it (``authorize`` as is: the peer reached us),
    except that every message it is sent is deferred with ``code``, for good."""

    code = "group_gap"

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[], deferred={m.id: self.code for m in messages})


class CountingTransport(InMemoryTransport):
    def __init__(self, network: InMemoryNetwork, key: bytes) -> None:
        super().__init__(network, key)
        self.tries = 0

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self.tries += 1
        return await super().deliver(peer, location, messages)


class Peer:
    """One user over the in-memory registry and network: the real courier and trust policy,
    and a receiving side that defers everything."""

    def __init__(
        self,
        name: str,
        registry: InMemoryRegistry,
        network: InMemoryNetwork,
        code: str,
        settings: CourierSettings,
    ) -> None:
        self.name = name
        key = {"alice": bytes([0xA1]), "bob": bytes([0xB0])}[name] * 32
        self.events = RecordingEvents()
        self.messages = InMemoryMessageRepository()
        self.directory = InMemoryDirectory(registry, key)
        self.trust = TrustPolicy(
            InMemoryContactRepository(), self.directory, self.events, ManualClock(), key
        )
        self.trust.signed_in_as(name)
        self.transport = CountingTransport(network, key)
        self.courier = Courier(
            self.directory, self.transport, self.messages, self.events, self.trust, settings
        )
        self.receive = Deferring(
            Session(user=name),
            self.messages,
            ConversationLedger(InMemoryConversationRepository(self.messages)),
            self.events,
            self.trust,
            self.courier,
            ManualClock(),
            InboundQuota(),
        )
        self.receive.code = code

    async def start(self) -> None:
        address = await self.transport.listen(
            self.name, PeerAddress(host="memory", port=0), self.receive
        )
        await self.directory.sign_in(self.name, address, self.events)

    async def post(self, seq: int, to: str) -> None:
        """A group message of ours that only ``to`` is to get."""
        posted = group_message(seq, sender=self.name)
        await self.messages.add([posted], {posted.id: [to]})
        self.courier.enqueue(posted, [to])


async def tries_of_a_pair_deferring_each_other(
    code: str, settings: CourierSettings, tries: int
) -> float:
    """Seconds alice and bob, each deferring every delivery of the other with ``code``, take to
    make ``tries`` tries each."""
    registry, network = InMemoryRegistry(), InMemoryNetwork()
    alice = Peer("alice", registry, network, code, settings)
    bob = Peer("bob", registry, network, code, settings)
    await alice.start()
    await bob.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await alice.post(1, "bob")
    await bob.post(2, "alice")
    await wait_until(
        lambda: alice.transport.tries >= tries and bob.transport.tries >= tries,
        timeout=20,
        what=f"{tries} tries each",
    )
    took = loop.time() - began
    for peer in (alice, bob):
        await peer.courier.close()
        await peer.transport.close()
    return took


def test_two_peers_deferring_each_other_for_a_sync_try_at_the_backoffs_pace() -> None:
    """Each try is answered by the other's traffic, which no longer ends a wait for a sync:
    the tries follow the backoff (0.01 s doubling here; jittered to no less than half). With
    the defaults (0.5 s doubling to 30 s) that is at most 9 tries in the first minute, then at
    most 4 a minute."""

    async def scenario() -> None:
        settings = CourierSettings(retry_delay=0.01, wake_gap=0.0)
        took = await tries_of_a_pair_deferring_each_other("group_gap", settings, tries=8)
        assert took >= 0.005 + 0.01 + 0.02 + 0.04 + 0.08 + 0.16 + 0.32  # 7 waits at least

    asyncio.run(scenario())


def test_two_peers_refusing_each_other_for_now_are_paced_by_each_others_traffic() -> None:
    """A refusal for now (a quota) is ended by the peer's traffic (it may have let us in), but
    no sooner than ``wake_gap`` after a try, and that gap doubles while such tries fail."""

    async def scenario() -> None:
        settings = CourierSettings(retry_delay=0.01, wake_gap=0.05)
        took = await tries_of_a_pair_deferring_each_other("over_quota", settings, tries=8)
        # Each wait lasts at least the lesser of its backoff (at least half its delay) and
        # its paced gap, whatever the other peer does.
        assert took >= 0.005 + 0.01 + 0.02 + 0.04 + 0.05 + 0.05 + 0.05

    asyncio.run(scenario())
