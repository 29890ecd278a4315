"""Whom to believe: the trust policy, and the courier's and the receiver's rules around it.

Everything runs over the in-memory twins (registry, directory, contacts, messages) with a
hand-written transport that records what it was asked to deliver. Couriers here back off for a
minute between tries, so anything that moves within a test's few seconds was woken on purpose
(a key accepted, a peer reaching us), never by a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier, CourierSettings
from chinwag.application.errors import (
    FingerprintMismatch,
    IdentityChanged,
    NotSignedIn,
    PeerRefused,
    SafetyNumberMismatch,
    UnknownContact,
    VerificationRequired,
)
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    GroupHave,
    InboundHandler,
    Incoming,
    Probe,
    Route,
)
from chinwag.application.quota import MESSAGE_COST, Allowance, InboundQuota, QuotaSettings
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import ReceiveMessages
from chinwag.domain.contact import Contact
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.group import Change
from chinwag.domain.identity import InvalidFingerprint, fingerprint, safety_number
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.support import NoFileTransfers, wait_until

ALICE_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32
BOBS_NEW_KEY = bytes([0xB1]) * 32
MALLORY_KEY = bytes([0x66]) * 32
CAROL_KEY = bytes([0xC0]) * 32

ALICE = PeerAddress(host="alice.example", port=1)
BOB = PeerAddress(host="bob.example", port=1)
CAROL = PeerAddress(host="carol.example", port=1)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HELD = CourierSettings(retry_delay=60.0)
"""Between tries the courier waits 30 s at least: longer than any wait in these tests."""


# -- fakes -------------------------------------------------------------------------------------


@dataclass
class KeyEvents(RecordingEvents):
    """Recording events that also keep what ``identity_changed`` says about verification."""

    changes: list[tuple[str, bytes, bytes, bool]] = field(default_factory=list)
    """``(name, new key, previous key, verified)`` for every announced key change."""

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        self.changes.append((name, key, previous, verified))
        super().identity_changed(name, key, previous, verified)


class CountingDirectory(InMemoryDirectory):
    """Counts lookups: each one is a try of the courier, so a test can wait for the next."""

    lookups = 0

    async def lookup(self, user: str) -> PeerLocation:
        self.lookups += 1
        return await super().lookup(user)


class RecordingTransport(NoFileTransfers):
    """Acknowledges whatever it is given, unless told to refuse (``refusal``, until cleared)
    or to defer some ids (``deferrals``, one answer each); writes each try into ``log``."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.batches: list[list[UUID]] = []
        self.keys: list[bytes] = []
        self.delivered: list[UUID] = []
        self.refusal: PeerRefused | None = None
        self.deferrals: list[dict[UUID, str]] = []

    async def listen(
        self, me: str, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress | None:
        return address

    def route(self, peer: str) -> Route | None:
        return None

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        return Probe(route=Route.DIRECT, rtt=0.0)

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        ids = [m.id for m in messages]
        self.batches.append(ids)
        self.keys.append(location.key)
        self.log.append(f"deliver {','.join(str(i.int) for i in ids)}")
        if self.refusal is not None:
            raise self.refusal
        deferred = self.deferrals.pop(0) if self.deferrals else {}
        acknowledged = [i for i in ids if i not in deferred]
        self.delivered.extend(acknowledged)
        return DeliveryReport(
            frozenset(acknowledged), {}, {i: r for i, r in deferred.items() if i in ids}
        )

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        pass  # no group here

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        pass  # no group here

    async def close(self) -> None:
        pass


def message(n: int, sender: str = "alice", recipient: str = "bob") -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=direct_conversation_id(sender, recipient),
        sender=sender,
        recipient=recipient,
        body=f"message {n}",
        sent_at=NOW,
        state=MessageState.PENDING,
    )


async def register(
    registry: InMemoryRegistry, name: str, key: bytes, address: PeerAddress
) -> InMemoryDirectory:
    directory = InMemoryDirectory(registry, key)
    await directory.sign_in(name, address, RecordingEvents())
    return directory


async def rekey(
    registry: InMemoryRegistry, directory: InMemoryDirectory, key: bytes, address: PeerAddress
) -> InMemoryDirectory:
    """Bob, signed in with ``directory``, reinstalls: the operator releases the name (as
    ``chinwag-registry release`` does) and his new ``key`` takes it."""
    await directory.sign_out()
    registry.release("bob")
    return await register(registry, "bob", key, address)


class Alice:
    """Alice's side: a trust policy and a courier over the in-memory twins, signed in."""

    def __init__(self, registry: InMemoryRegistry, settings: CourierSettings = HELD) -> None:
        self.log: list[str] = []
        self.contacts = InMemoryContactRepository()
        self.events = KeyEvents()
        self.directory = CountingDirectory(registry, ALICE_KEY)
        self.trust = TrustPolicy(
            self.contacts, self.directory, self.events, ManualClock(NOW, timedelta(0)), ALICE_KEY
        )
        self.trust.signed_in_as("alice")
        self.trust.on_trusted(lambda name: self.log.append(f"let {name} through"))
        self.messages = InMemoryMessageRepository()
        self.transport = RecordingTransport(self.log)
        self.courier = Courier(
            self.directory, self.transport, self.messages, self.events, self.trust, settings
        )

    async def pin(self, name: str, key: bytes, *, verified: bool = False) -> None:
        """As if alice had written to ``name`` before, holding ``key``."""
        await self.contacts.save(
            Contact(name=name, key=key, first_seen=NOW, verified=verified, accepted=True)
        )

    async def contact(self, name: str = "bob") -> Contact:
        contact = await self.contacts.get(name)
        assert contact is not None
        return contact

    async def send(self, *numbers: int) -> list[Message]:
        messages = [message(n) for n in numbers]
        await self.messages.add(messages)
        for m in messages:
            self.courier.enqueue(m)
        return messages

    def state(self, m: Message) -> tuple[MessageState | None, str | None]:
        latest = self.events.latest_state(m.id)
        return (latest.state, latest.reason) if latest else (None, None)

    async def wait_for_states(
        self, messages: Sequence[Message], state: MessageState, reason: str | None = None
    ) -> None:
        await self.events.wait_for(lambda: all(self.state(m) == (state, reason) for m in messages))

    async def stored(self, m: Message) -> tuple[MessageState, str | None]:
        found = await self.messages.get(m.id)
        assert found is not None
        return found.state, found.reason

    async def another_try(self) -> None:
        """Wake the courier and wait until it has looked bob up again: the try before is over."""
        before = self.directory.lookups
        self.courier.wake("bob")
        await wait_until(lambda: self.directory.lookups > before, what="another try")


# -- first contact -----------------------------------------------------------------------------


def test_the_first_message_to_somebody_pins_the_key_the_registry_binds_them_to() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        sent = await alice.send(1, 2)
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        assert await alice.contact() == Contact(
            name="bob", key=BOB_KEY, first_seen=NOW, verified=False, accepted=True
        )
        assert alice.transport.keys == [BOB_KEY]
        assert alice.events.identities == []  # a first contact is nothing to warn about
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_stranger_reaching_us_with_the_registrys_key_is_pinned() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        await alice.trust.incoming("bob", BOB_KEY)
        contact = await alice.contact()
        assert (contact.key, contact.pending_key, contact.verified) == (BOB_KEY, None, False)
        assert not contact.accepted  # a message request until alice writes back
        assert await alice.trust.is_stranger("bob")
        await alice.trust.incoming("bob", BOB_KEY)  # and believed from then on
        assert alice.events.identities == []

    asyncio.run(scenario())


def test_a_stranger_whose_key_is_not_the_registrys_is_refused() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        with pytest.raises(PeerRefused) as refused:
            await alice.trust.incoming("bob", MALLORY_KEY)
        assert refused.value.reason == "wrong_key"
        assert await alice.contacts.list_all() == []
        assert alice.events.identities == []

    asyncio.run(scenario())


@pytest.mark.parametrize("registry_says", ["unavailable", "offline", "never heard of them"])
def test_a_stranger_is_refused_while_the_registry_cannot_vouch_for_their_key(
    registry_says: str,
) -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        bob = await register(registry, "bob", BOB_KEY, BOB)
        if registry_says == "unavailable":
            registry.available = False
        elif registry_says == "offline":
            await bob.sign_out()
        else:
            await bob.sign_out()
            registry.release("bob")
        alice = Alice(registry)
        with pytest.raises(PeerRefused) as refused:
            await alice.trust.incoming("bob", BOB_KEY)
        assert refused.value.reason == "unverified"
        assert await alice.contacts.list_all() == []

        # Nothing is remembered of the refusal: once the registry can say, bob gets through.
        registry.available = True
        if registry_says != "unavailable":
            await register(registry, "bob", BOB_KEY, BOB)
        await alice.trust.incoming("bob", BOB_KEY)
        assert (await alice.contact()).key == BOB_KEY

    asyncio.run(scenario())


# -- key changes -------------------------------------------------------------------------------


def test_a_contact_is_believed_on_the_pinned_key_whatever_the_registry_says_later() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOBS_NEW_KEY, BOB)  # the registry changed its mind
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        await alice.trust.incoming("bob", BOB_KEY)
        assert await alice.contact() == Contact(
            name="bob", key=BOB_KEY, first_seen=NOW, accepted=True
        )
        assert alice.events.identities == []

    asyncio.run(scenario())


def test_a_changed_key_is_held_both_ways_and_announced_once_per_new_key() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        bob = await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        bob = await rekey(registry, bob, BOBS_NEW_KEY, BOB)

        with pytest.raises(IdentityChanged):
            await alice.trust.outgoing("bob", BOBS_NEW_KEY)
        contact = await alice.contact()
        assert (contact.key, contact.pending_key, contact.blocked) == (BOB_KEY, BOBS_NEW_KEY, True)
        assert alice.events.changes == [("bob", BOBS_NEW_KEY, BOB_KEY, False)]

        # Held both ways, and never announced twice for the same key.
        for _ in range(3):
            with pytest.raises(IdentityChanged):
                await alice.trust.outgoing("bob", BOBS_NEW_KEY)
            with pytest.raises(PeerRefused) as refused:
                await alice.trust.incoming("bob", BOBS_NEW_KEY)
            assert refused.value.reason == "identity_changed"
        assert alice.events.identities == [("bob", "changed", BOBS_NEW_KEY)]

        # Another new key is another change, announced once too.
        await rekey(registry, bob, CAROL_KEY, BOB)
        for _ in range(2):
            with pytest.raises(PeerRefused, match="new key"):
                await alice.trust.incoming("bob", CAROL_KEY)
        assert alice.events.identities == [
            ("bob", "changed", BOBS_NEW_KEY),
            ("bob", "changed", CAROL_KEY),
        ]
        assert (await alice.contact()).pending_key == CAROL_KEY

    asyncio.run(scenario())


def test_a_change_first_seen_incoming_is_announced_and_held_outgoing_too() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOBS_NEW_KEY, BOB)
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        with pytest.raises(PeerRefused) as refused:
            await alice.trust.incoming("bob", BOBS_NEW_KEY)
        assert refused.value.reason == "identity_changed"
        with pytest.raises(IdentityChanged):
            await alice.trust.outgoing("bob", BOBS_NEW_KEY)
        assert alice.events.changes == [("bob", BOBS_NEW_KEY, BOB_KEY, False)]

    asyncio.run(scenario())


def test_an_impostor_claiming_a_contacts_name_is_refused_without_a_warning() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        with pytest.raises(PeerRefused) as refused:
            await alice.trust.incoming("bob", MALLORY_KEY)
        assert refused.value.reason == "wrong_key"
        assert alice.events.identities == []
        assert (await alice.contact()).pending_key is None

    asyncio.run(scenario())


async def alice_holding_a_change(*, verified: bool = False) -> Alice:
    """Alice pinned bob to ``BOB_KEY``; the registry binds bob to ``BOBS_NEW_KEY`` now, and
    alice has seen it."""
    registry = InMemoryRegistry()
    await register(registry, "bob", BOBS_NEW_KEY, BOB)
    alice = Alice(registry)
    await alice.pin("bob", BOB_KEY, verified=verified)
    with pytest.raises(IdentityChanged):
        await alice.trust.outgoing("bob", BOBS_NEW_KEY)
    return alice


def test_trust_with_the_wrong_fingerprint_changes_nothing() -> None:
    async def scenario() -> None:
        alice = await alice_holding_a_change()
        before = await alice.contact()
        for wrong in [fingerprint(MALLORY_KEY), fingerprint(BOB_KEY)]:  # the old key is wrong too
            with pytest.raises(FingerprintMismatch):
                await alice.trust.trust("bob", wrong)
        with pytest.raises(InvalidFingerprint):
            await alice.trust.trust("bob", "b1b1 b1b1")
        assert await alice.contact() == before
        assert alice.events.identities == [("bob", "changed", BOBS_NEW_KEY)]
        assert alice.log == []
        with pytest.raises(IdentityChanged):
            await alice.trust.outgoing("bob", BOBS_NEW_KEY)

    asyncio.run(scenario())


def test_trusting_the_new_key_lets_it_through_both_ways() -> None:
    async def scenario() -> None:
        alice = await alice_holding_a_change()
        typed = fingerprint(BOBS_NEW_KEY).upper().replace(" ", "")
        accepted = await alice.trust.trust("Bob", typed)
        assert accepted == await alice.contact()
        assert (accepted.key, accepted.pending_key, accepted.verified) == (
            BOBS_NEW_KEY,
            None,
            False,
        )
        assert accepted.first_seen == NOW  # still the same person
        assert alice.events.identities[-1] == ("bob", "trusted", BOBS_NEW_KEY)
        assert alice.log == ["let bob through"]
        await alice.trust.outgoing("bob", BOBS_NEW_KEY)
        await alice.trust.incoming("bob", BOBS_NEW_KEY)
        # The old key is somebody else's now.
        with pytest.raises(IdentityChanged):
            await alice.trust.outgoing("bob", BOB_KEY)

    asyncio.run(scenario())


def test_trust_without_a_change_waiting_only_confirms_the_pinned_key() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        before = await alice.contact()
        assert await alice.trust.trust("bob", fingerprint(BOB_KEY)) == before
        assert alice.events.identities == [("bob", "trusted", BOB_KEY)]  # the answer, no change
        with pytest.raises(FingerprintMismatch):
            await alice.trust.trust("bob", fingerprint(BOBS_NEW_KEY))
        assert await alice.contact() == before
        assert alice.events.identities == [("bob", "trusted", BOB_KEY)]

    asyncio.run(scenario())


def test_a_verified_contacts_new_key_needs_the_safety_number_compared_again() -> None:
    async def scenario() -> None:
        alice = await alice_holding_a_change(verified=True)
        assert alice.events.changes == [("bob", BOBS_NEW_KEY, BOB_KEY, True)]
        before = await alice.contact()

        with pytest.raises(VerificationRequired):
            await alice.trust.trust("bob", fingerprint(BOBS_NEW_KEY))
        old_number = safety_number("alice", ALICE_KEY, "bob", BOB_KEY)
        for wrong in ["12345", old_number]:  # the number for the old key no longer holds
            with pytest.raises(SafetyNumberMismatch):
                await alice.trust.verify("bob", wrong)
        assert await alice.contact() == before
        assert alice.log == []

        new_number = safety_number("alice", ALICE_KEY, "bob", BOBS_NEW_KEY)
        shown = await alice.trust.verify("bob")
        assert (shown.name, shown.number, shown.key, shown.verified) == (
            "bob",
            new_number,
            BOBS_NEW_KEY,
            False,
        )
        assert shown.fingerprint == fingerprint(BOBS_NEW_KEY)

        done = await alice.trust.verify("Bob", new_number.replace(" ", ""))
        assert (done.key, done.verified) == (BOBS_NEW_KEY, True)
        contact = await alice.contact()
        assert (contact.key, contact.pending_key, contact.verified) == (BOBS_NEW_KEY, None, True)
        assert alice.events.identities[-1] == ("bob", "trusted", BOBS_NEW_KEY)
        assert alice.log == ["let bob through"]

    asyncio.run(scenario())


def test_verify_and_trust_know_only_contacts() -> None:
    async def scenario() -> None:
        alice = Alice(InMemoryRegistry())
        with pytest.raises(UnknownContact):
            await alice.trust.verify("bob")
        with pytest.raises(UnknownContact):
            await alice.trust.verify("bob", "12345")
        with pytest.raises(UnknownContact):
            await alice.trust.trust("bob", fingerprint(BOB_KEY))
        assert await alice.contacts.list_all() == []

    asyncio.run(scenario())


@pytest.mark.parametrize("seen", ["outgoing", "incoming"])
def test_the_old_key_coming_back_clears_the_pending_change(seen: str) -> None:
    async def scenario() -> None:
        alice = await alice_holding_a_change()
        if seen == "outgoing":
            await alice.trust.outgoing("bob", BOB_KEY)
        else:
            await alice.trust.incoming("bob", BOB_KEY)
        contact = await alice.contact()
        assert (contact.key, contact.pending_key) == (BOB_KEY, None)
        assert alice.log == ["let bob through"]  # what waited for bob may go
        # The user is told the change is over (the old key, still trusted), so warnings go.
        assert alice.events.identities == [
            ("bob", "changed", BOBS_NEW_KEY),
            ("bob", "trusted", BOB_KEY),
        ]

    asyncio.run(scenario())


def test_the_old_key_coming_back_clears_the_change_for_a_message_request_too() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        bob = await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        await alice.trust.incoming("bob", BOB_KEY)  # bob wrote first: a message request
        await rekey(registry, bob, BOBS_NEW_KEY, BOB)
        with pytest.raises(PeerRefused):
            await alice.trust.incoming("bob", BOBS_NEW_KEY)
        await alice.trust.outgoing("bob", BOB_KEY)  # alice answers bob on the old key
        contact = await alice.contact()
        assert (contact.key, contact.accepted) == (BOB_KEY, True)
        assert contact.pending_key is None

    asyncio.run(scenario())


def test_verifying_a_message_request_answers_it() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        await alice.trust.incoming("bob", BOB_KEY)  # bob wrote first: a message request
        await alice.trust.verify("bob", safety_number("alice", ALICE_KEY, "bob", BOB_KEY))
        assert (await alice.contact()).verified
        assert not await alice.trust.is_stranger("bob")

    asyncio.run(scenario())


# -- the courier -------------------------------------------------------------------------------


def test_messages_wait_for_a_changed_key_then_go_once_in_order_when_it_is_trusted() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOBS_NEW_KEY, BOB)
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        sent = await alice.send(1, 2, 3)
        await alice.wait_for_states(sent, MessageState.QUEUED, "identity_changed")
        assert [await alice.stored(m) for m in sent] == [
            (MessageState.QUEUED, "identity_changed")
        ] * 3
        for _ in range(3):  # however often it tries, nothing moves and nobody is told twice
            await alice.another_try()
        assert alice.transport.batches == []
        assert alice.courier.backlog() == 3
        assert alice.events.identities == [("bob", "changed", BOBS_NEW_KEY)]

        await alice.trust.trust("bob", fingerprint(BOBS_NEW_KEY))
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        assert alice.log == ["let bob through", "deliver 1,2,3"]
        assert alice.transport.delivered == [m.id for m in sent]
        assert alice.transport.keys == [BOBS_NEW_KEY]
        assert [await alice.stored(m) for m in sent] == [(MessageState.DELIVERED, None)] * 3
        assert alice.courier.backlog() == 0
        await alice.courier.close()

    asyncio.run(scenario())


def test_messages_to_a_verified_contact_wait_for_verify() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOBS_NEW_KEY, BOB)
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY, verified=True)
        sent = await alice.send(1, 2)
        await alice.wait_for_states(sent, MessageState.QUEUED, "identity_changed")
        with pytest.raises(VerificationRequired):
            await alice.trust.trust("bob", fingerprint(BOBS_NEW_KEY))
        with pytest.raises(SafetyNumberMismatch):
            await alice.trust.verify("bob", "00000 " * 12)
        await alice.another_try()
        assert alice.transport.batches == []

        await alice.trust.verify("bob", safety_number("alice", ALICE_KEY, "bob", BOBS_NEW_KEY))
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        assert alice.log == ["let bob through", "deliver 1,2"]
        await alice.courier.close()

    asyncio.run(scenario())


def test_messages_held_for_a_change_go_when_the_old_key_comes_back() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        bob = await register(registry, "bob", BOBS_NEW_KEY, BOB)
        alice = Alice(registry)
        await alice.pin("bob", BOB_KEY)
        sent = await alice.send(1, 2)
        await alice.wait_for_states(sent, MessageState.QUEUED, "identity_changed")

        await rekey(registry, bob, BOB_KEY, BOB)  # a false alarm: bob is back on his old key
        await alice.trust.incoming("bob", BOB_KEY)  # he reaches alice, which wakes the courier
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        assert alice.transport.keys == [BOB_KEY]
        assert alice.log == ["let bob through", "deliver 1,2"]
        assert (await alice.contact()).pending_key is None
        await alice.courier.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("reason", ["identity_changed", "over_quota", "unverified"])
def test_a_refusal_keeps_the_messages_queued_with_its_reason(reason: str) -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        alice.transport.refusal = PeerRefused(reason, "not now")
        sent = await alice.send(1, 2, 3)
        await alice.wait_for_states(sent, MessageState.QUEUED, reason)
        assert [await alice.stored(m) for m in sent] == [(MessageState.QUEUED, reason)] * 3
        assert alice.courier.backlog() == 3
        await alice.another_try()
        assert alice.transport.delivered == []

        alice.transport.refusal = None  # bob accepted alice's key, or his quota refilled
        await alice.another_try()
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        assert alice.transport.delivered == [m.id for m in sent]
        assert alice.transport.batches[-1] == [m.id for m in sent]
        await alice.courier.close()

    asyncio.run(scenario())


def test_a_refusal_replaces_the_reason_of_messages_that_waited_for_another() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        bob = await register(registry, "bob", BOB_KEY, BOB)
        await bob.sign_out()
        alice = Alice(registry)
        sent = await alice.send(1)
        await alice.wait_for_states(sent, MessageState.QUEUED, "bob is offline")

        await register(registry, "bob", BOB_KEY, BOB)
        alice.transport.refusal = PeerRefused("over_quota", "not now")
        await alice.another_try()
        await alice.another_try()  # the refused try is over, settled and recorded
        assert alice.transport.batches == [[m.id for m in sent]] * 2
        assert await alice.stored(sent[0]) == (MessageState.QUEUED, "over_quota")
        assert alice.state(sent[0]) == (MessageState.QUEUED, "over_quota")
        await alice.courier.close()

    asyncio.run(scenario())


def test_deferred_messages_stay_queued_in_order_and_the_others_are_recorded() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        later = {UUID(int=n): "over_quota" for n in (2, 4, 5)}
        alice.transport.deferrals = [later]
        sent = await alice.send(1, 2, 3, 4, 5)
        first, second, third, fourth, fifth = sent
        await alice.wait_for_states([first, third], MessageState.DELIVERED)
        await alice.wait_for_states([second, fourth, fifth], MessageState.QUEUED, "over_quota")
        assert alice.transport.delivered == [first.id, third.id]
        assert alice.courier.backlog() == 3
        assert [await alice.stored(m) for m in sent] == [
            (MessageState.DELIVERED, None),
            (MessageState.QUEUED, "over_quota"),
            (MessageState.DELIVERED, None),
            (MessageState.QUEUED, "over_quota"),
            (MessageState.QUEUED, "over_quota"),
        ]

        await alice.another_try()
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        assert alice.transport.batches == [[m.id for m in sent], [second.id, fourth.id, fifth.id]]
        assert alice.transport.delivered == [m.id for m in (first, third, second, fourth, fifth)]
        await alice.courier.close()

    asyncio.run(scenario())


def test_deferred_messages_go_back_ahead_of_later_batches() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry, CourierSettings(batch_size=2, window=4, retry_delay=60.0))
        alice.transport.deferrals = [{UUID(int=2): "over_quota"}]
        sent = await alice.send(1, 2, 3, 4, 5)
        await alice.events.wait_for(lambda: alice.state(sent[1])[1] == "over_quota")
        assert alice.state(sent[0]) == (MessageState.DELIVERED, None)
        first_round = len(alice.transport.batches)

        await alice.another_try()
        await alice.wait_for_states(sent, MessageState.DELIVERED)
        # The later batches may have reached bob already (unrecorded, they are sent again: bob
        # stores by id), but never ahead of the deferred message.
        retried = [i for batch in alice.transport.batches[first_round:] for i in batch]
        assert retried == [m.id for m in sent[1:]]
        await alice.courier.close()

    asyncio.run(scenario())


# -- the receiving side ------------------------------------------------------------------------


class Bob:
    """Bob's receiving side (signed in or not) over the in-memory twins, with a fixed clock."""

    def __init__(
        self,
        registry: InMemoryRegistry,
        *,
        signed_in: bool = True,
        quota: InboundQuota | None = None,
    ) -> None:
        self.log: list[str] = []
        self.clock = ManualClock(NOW, timedelta(0))
        self.contacts = InMemoryContactRepository()
        self.events = KeyEvents()
        self.directory = CountingDirectory(registry, BOB_KEY)
        self.trust = TrustPolicy(self.contacts, self.directory, self.events, self.clock, BOB_KEY)
        self.messages = InMemoryMessageRepository()
        self.transport = RecordingTransport(self.log)
        self.courier = Courier(
            self.directory, self.transport, self.messages, self.events, self.trust, HELD
        )
        self.session = Session()
        if signed_in:
            self.session.start("bob", BOB)
            self.trust.signed_in_as("bob")
        self.receive = ReceiveMessages(
            self.session,
            self.messages,
            ConversationLedger(InMemoryConversationRepository(self.messages)),
            self.events,
            self.trust,
            self.courier,
            self.clock,
            quota or InboundQuota(),
        )


def test_authorize_checks_the_peer_with_the_trust_policy() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "alice", ALICE_KEY, ALICE)
        await register(registry, "carol", CAROL_KEY, CAROL)
        bob = Bob(registry)
        await bob.receive.authorize("alice", ALICE_KEY)
        assert (await bob.contacts.get("alice")) == Contact(
            name="alice", key=ALICE_KEY, first_seen=NOW, accepted=False
        )
        with pytest.raises(PeerRefused) as refused:
            await bob.receive.authorize("carol", MALLORY_KEY)
        assert refused.value.reason == "wrong_key"
        assert await bob.contacts.get("carol") is None

    asyncio.run(scenario())


def test_authorize_needs_a_signed_in_user() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "alice", ALICE_KEY, ALICE)
        bob = Bob(registry, signed_in=False)
        with pytest.raises(NotSignedIn):
            await bob.receive.authorize("alice", ALICE_KEY)
        assert await bob.contacts.list_all() == []

    asyncio.run(scenario())


def test_a_peer_reaching_us_wakes_what_waits_for_them() -> None:
    async def scenario() -> None:
        registry = InMemoryRegistry()
        alice_directory = await register(registry, "alice", ALICE_KEY, ALICE)
        await alice_directory.sign_out()
        bob = Bob(registry)
        reply = message(7, sender="bob", recipient="alice")
        await bob.messages.add([reply])
        bob.courier.enqueue(reply)
        await bob.events.wait_for(
            lambda: (
                (s := bob.events.latest_state(reply.id)) is not None
                and s.state is MessageState.QUEUED
            )
        )
        await register(registry, "alice", ALICE_KEY, ALICE)  # no presence reaches bob's courier
        await bob.receive.authorize("alice", ALICE_KEY)  # but alice connects to him
        await bob.events.wait_for(
            lambda: (
                (s := bob.events.latest_state(reply.id)) is not None
                and s.state is MessageState.DELIVERED
            )
        )
        assert bob.transport.keys == [ALICE_KEY]
        await bob.courier.close()

    asyncio.run(scenario())


def test_a_message_sent_more_than_a_day_ahead_is_refused_and_the_others_are_stamped() -> None:
    async def scenario() -> None:
        bob = Bob(InMemoryRegistry())
        times = {
            1: NOW - timedelta(days=400),
            2: NOW + timedelta(days=1),  # a sender's clock a day fast: still believed
            3: NOW + timedelta(days=1, microseconds=1),
            4: NOW + timedelta(days=3650),
        }
        incoming = [
            Incoming.of(message(n).model_copy(update={"sent_at": when}))
            for n, when in times.items()
        ]
        intake = await bob.receive.execute("alice", incoming)
        assert list(intake.committed) == [UUID(int=1), UUID(int=2)]
        assert intake.deferred == {}  # refused for good, not "later"
        assert {i.int: code for i, (code, _) in intake.rejected.items()} == {
            3: "refused",
            4: "refused",
        }
        stored = [await bob.messages.get(UUID(int=n)) for n in times]
        assert stored[2:] == [None, None]
        for n, kept in zip((1, 2), stored[:2], strict=True):
            assert kept is not None
            assert (kept.state, kept.sent_at, kept.received_at) == (
                MessageState.RECEIVED,
                times[n],
                NOW,
            )
        assert [m.id for m in bob.events.received] == [UUID(int=1), UUID(int=2)]
        assert all(m.received_at == NOW for m in bob.events.received)

    asyncio.run(scenario())


def test_what_breaks_a_rule_is_refused_alone_with_the_rules_words() -> None:
    """The transport hands over what the peer claims; the application applies the rules and
    files what passes under the direct conversation."""

    async def scenario() -> None:
        bob = Bob(InMemoryRegistry())
        fine = Incoming(UUID(int=1), "alice", "bob", "hi", NOW)
        blank = Incoming(UUID(int=2), "alice", "bob", " \u200b ", NOW)
        naive = Incoming(UUID(int=3), "alice", "bob", "when?", NOW.replace(tzinfo=None))
        nameless = Incoming(UUID(int=4), "alice", "b b", "to whom?", NOW)
        elsewhere = Incoming(UUID(int=5), "alice", "carol", "for carol", NOW)
        intake = await bob.receive.execute("alice", [fine, blank, naive, nameless, elsewhere])
        assert list(intake.committed) == [fine.id]
        assert intake.rejected[blank.id] == (
            "invalid_message",
            "body: Value error, a message cannot be empty (or only invisible characters)",
        )
        assert intake.rejected[naive.id][0] == "invalid_message"
        assert intake.rejected[naive.id][1].startswith("sent_at: ")
        assert intake.rejected[nameless.id][0] == "invalid_message"
        assert intake.rejected[nameless.id][1].startswith("recipient: ")
        assert intake.rejected[elsewhere.id] == ("refused", "the recipient refused it")
        stored = await bob.messages.get(fine.id)
        assert stored is not None
        assert stored.conversation_id == direct_conversation_id("alice", "bob")
        assert (stored.state, stored.received_at) == (MessageState.RECEIVED, NOW)
        assert [await bob.messages.get(UUID(int=n)) for n in range(2, 6)] == [None] * 4

    asyncio.run(scenario())


def test_with_the_registry_down_the_last_address_is_used_with_the_pinned_key_only() -> None:
    """An old lookup may hold a key released since: it must never pass for a key change."""

    async def scenario() -> None:
        registry = InMemoryRegistry()
        bob = await register(registry, "bob", BOB_KEY, BOB)
        alice = Alice(registry)
        first = await alice.send(1)
        await alice.wait_for_states(first, MessageState.DELIVERED)  # cached: bob at BOB_KEY
        await rekey(registry, bob, BOBS_NEW_KEY, BOB)
        with pytest.raises(PeerRefused):
            await alice.trust.incoming("bob", BOBS_NEW_KEY)  # bob writes: the change is held...
        await alice.trust.trust("bob", fingerprint(BOBS_NEW_KEY))  # ...and accepted
        told = list(alice.events.identities)
        registry.available = False
        later = await alice.send(2)
        await alice.wait_for_states(later, MessageState.DELIVERED)
        assert alice.transport.keys[-1] == BOBS_NEW_KEY  # the pin, not the old answer
        assert alice.events.identities == told  # no key change raised by a stale lookup
        await alice.courier.close()

    asyncio.run(scenario())


def test_after_a_deferral_nothing_newer_from_that_sender_is_stored_before_the_deferred_one() -> (
    None
):
    """Batches are pipelined: the one after a deferred tail may arrive when the quota has room
    again. Storing it would put the sender's messages out of order."""

    async def scenario() -> None:
        registry = InMemoryRegistry()
        await register(registry, "alice", ALICE_KEY, ALICE)
        cost = MESSAGE_COST + len(message(1).body)
        tight = QuotaSettings(contact=Allowance(rate=cost, burst=2 * cost, daily=10**9))
        bob = Bob(registry, quota=InboundQuota(tight))
        await bob.contacts.save(Contact(name="alice", key=ALICE_KEY, first_seen=NOW, accepted=True))
        first, later, again = [1, 2, 3], [4, 5], [1, 3, 4, 5]
        batch = [Incoming.of(message(n)) for n in first]
        intake = await bob.receive.execute("alice", batch)
        assert [i.int for i in intake.committed] == [1, 2]
        assert [i.int for i in intake.deferred] == [3]

        bob.clock.advance(timedelta(seconds=10))  # room again: yet 4 and 5 must not overtake 3
        intake = await bob.receive.execute("alice", [Incoming.of(message(n)) for n in later])
        assert intake.committed == []
        assert [i.int for i in intake.deferred] == [4, 5]

        # The sender's retry: 1 again (its receipt was lost), then 3, 4, 5 in order.
        batch = [Incoming.of(message(n)) for n in again]
        intake = await bob.receive.execute("alice", batch)
        assert [i.int for i in intake.committed] == [1, 3, 4]  # 1 acked again, not charged
        assert [i.int for i in intake.deferred] == [5]
        bob.clock.advance(timedelta(seconds=10))
        intake = await bob.receive.execute("alice", [Incoming.of(message(5))])
        assert [i.int for i in intake.committed] == [5]
        page = await bob.messages.page(direct_conversation_id("alice", "bob"), 10)
        assert [m.id.int for m in reversed(page)] == [1, 2, 3, 4, 5]  # the sender's order

    asyncio.run(scenario())
