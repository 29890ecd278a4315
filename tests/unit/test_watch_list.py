"""The watch list: whom the client asks the registry to tell it about, without the user asking.

At sign-in: the peers of direct conversations, contacts and the members of the user's groups;
then each newcomer (a conversation used, a contact pinned, a group's members changed). A
registry out of reach or one that watches no more never breaks sign-in or sending.

Everything runs over the in-memory twins (the directory records what it is asked to watch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime

import pytest

from chinwag.adapters.memory.clock import ManualClock, SequentialIds
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.groups import InMemoryGroupRepository
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.errors import RegistryUnavailable, WatchLimit
from chinwag.application.groups import GroupBook
from chinwag.application.quota import InboundQuota
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import ReceiveMessages, SendMessage, SignIn
from chinwag.application.watch_list import WatchList, follow
from chinwag.domain.contact import Contact
from chinwag.domain.conversation import Conversation
from chinwag.domain.group import ChangeKind
from chinwag.domain.registry.presence import MAX_WATCHED
from chinwag.domain.user import PeerAddress
from tests.unit.groups_world import FakeSignatures, Log, key_of

ANY_PORT = PeerAddress(host="memory", port=0)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FailingDirectory(InMemoryDirectory):
    """An in-memory directory whose ``watch`` fails with ``failure`` (None: works), counting
    the calls."""

    def __init__(self, registry: InMemoryRegistry, key: bytes) -> None:
        super().__init__(registry, key)
        self.failure: Exception | None = None
        self.calls: list[list[str]] = []

    async def watch(self, names: Collection[str]) -> None:
        self.calls.append(sorted(names))
        if self.failure is not None:
            raise self.failure
        await super().watch(names)


class Alice:
    """alice's client: the parts the watch list touches, wired as the container does."""

    def __init__(self) -> None:
        self.key = key_of("alice")
        self.registry = InMemoryRegistry()
        self.network = InMemoryNetwork()
        self.session = Session()
        self.events = RecordingEvents()
        self.clock = ManualClock()
        self.directory = FailingDirectory(self.registry, self.key)
        self.contacts = InMemoryContactRepository()
        self.messages = InMemoryMessageRepository()
        self.conversations = InMemoryConversationRepository(self.messages)
        self.groups = InMemoryGroupRepository()
        self.ledger = ConversationLedger(self.conversations)
        self.trust = TrustPolicy(self.contacts, self.directory, self.events, self.clock, self.key)
        self.book = GroupBook(
            self.session, self.groups, FakeSignatures(self.key), self.events, self.clock, self.key
        )
        self.transport = InMemoryTransport(self.network, self.key)
        self.courier = Courier(
            self.directory, self.transport, self.messages, self.events, self.trust
        )
        self.watch_list = follow(
            WatchList(self.session, self.directory, self.contacts, self.conversations, self.book),
            self.ledger,
            self.trust,
            self.book,
        )

    async def sign_in(self) -> None:
        receive = ReceiveMessages(
            self.session,
            self.messages,
            self.ledger,
            self.events,
            self.trust,
            self.courier,
            self.clock,
            InboundQuota(),
        )
        await SignIn(
            self.session,
            self.directory,
            self.transport,
            receive,
            self.events,
            self.messages,
            self.courier,
            self.trust,
            watch_list=self.watch_list,
        ).execute("alice", ANY_PORT)

    async def pin(self, name: str) -> None:
        await self.contacts.save(Contact(name=name, key=key_of(name), first_seen=T0))

    async def close(self) -> None:
        await self.watch_list.idle()
        await self.courier.close()
        await self.directory.sign_out()
        await self.transport.close()


def run(test: Callable[[Alice], Awaitable[None]]) -> None:
    async def main() -> None:
        alice = Alice()
        try:
            async with asyncio.timeout(10):
                await test(alice)
        finally:
            await alice.close()

    asyncio.run(main())


def test_sign_in_watches_conversations_contacts_and_group_members_but_not_oneself() -> None:
    async def scenario(alice: Alice) -> None:
        await alice.conversations.save([Conversation.direct("alice", "bob")])
        await alice.pin("carol")
        # Stored by an earlier run: a group alice made, and one she was removed from.
        await alice.groups.add_changes(Log(["dave", "erin"]).changes)
        gone = Log(["frank"], creator="gina")
        gone.then(ChangeKind.ADD, author="gina", member="alice")
        gone.then(ChangeKind.REMOVE, author="gina", member="alice")
        await alice.groups.add_changes(gone.changes)

        await alice.sign_in()

        assert alice.directory.watched() == {"bob", "carol", "dave", "erin"}
        # Once, before registering: the list goes with the registration.
        assert alice.directory.calls == [["bob", "carol", "dave", "erin"]]

    run(scenario)


@pytest.mark.parametrize("failure", [RegistryUnavailable("out of reach"), WatchLimit("too many")])
def test_sign_in_goes_on_when_watching_fails(failure: Exception) -> None:
    async def scenario(alice: Alice) -> None:
        await alice.pin("carol")
        alice.directory.failure = failure
        await alice.sign_in()
        assert alice.session.user == "alice"
        assert alice.registry.online() == {"alice"}
        assert alice.directory.calls == [["carol"]]

    run(scenario)


def test_sign_in_goes_on_when_the_history_cannot_be_read() -> None:
    async def scenario(alice: Alice) -> None:
        async def broken() -> list[Contact]:
            raise OSError("disk gone")

        alice.contacts.list_all = broken  # type: ignore[method-assign]
        await alice.sign_in()
        assert alice.registry.online() == {"alice"}
        assert alice.directory.watched() == frozenset()

    run(scenario)


def test_sign_in_watches_at_most_what_one_client_may_the_latest_conversations_first() -> None:
    async def scenario(alice: Alice) -> None:
        for n in range(MAX_WATCHED + 5):
            await alice.pin(f"p{n:04}")
        await alice.conversations.save([Conversation.direct("alice", "zed")])
        await alice.sign_in()
        watched = alice.directory.watched()
        assert len(watched) == MAX_WATCHED
        assert "zed" in watched  # a conversation comes before contacts
        assert "p1004" not in watched

    run(scenario)


def test_a_new_conversation_and_a_new_contact_are_watched_without_waiting() -> None:
    async def scenario(alice: Alice) -> None:
        await alice.sign_in()
        alice.registry.register("bob", ANY_PORT, InMemoryDirectory(alice.registry, key_of("bob")))
        send = SendMessage(
            alice.session,
            alice.directory,
            alice.messages,
            alice.ledger,
            alice.courier,
            alice.events,
            alice.clock,
            SequentialIds(),
        )
        await send.execute("bob", "hi")
        await send.execute("bob", "again")  # known now: not asked again
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"bob"}
        assert alice.directory.calls == [["bob"]]

        await alice.trust.outgoing("carol", key_of("carol"))  # pinned: a new contact
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"bob", "carol"}

    run(scenario)


def test_a_failing_watch_never_fails_the_send() -> None:
    async def scenario(alice: Alice) -> None:
        await alice.sign_in()
        alice.directory.failure = WatchLimit("a connection may watch at most 1000 names")
        await alice.ledger.direct("alice", "bob")
        await alice.watch_list.idle()
        assert alice.directory.calls == [["bob"]]
        assert alice.directory.watched() == frozenset()
        alice.directory.failure = None
        alice.watch_list.add(["bob"])  # asked again later: tried again
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"bob"}

    run(scenario)


def test_a_group_change_watches_its_new_members_only_in_groups_alice_is_in() -> None:
    async def scenario(alice: Alice) -> None:
        await alice.sign_in()
        friends = Log(["bob"])
        await alice.book.take(friends.changes)
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"bob"}

        await alice.directory.unwatch(["bob"])  # the user's word: not undone by a rename
        await alice.book.take([friends.then(ChangeKind.RENAME, name="pals")])
        await alice.book.take([friends.then(ChangeKind.ADD, member="carol")])
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"carol"}

        others = Log(["dave"], creator="erin")  # alice is not in it
        await alice.book.take(others.changes)
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"carol"}

    run(scenario)


def test_adding_names_already_watched_or_ones_own_asks_nothing() -> None:
    async def scenario(alice: Alice) -> None:
        await alice.pin("bob")
        await alice.sign_in()
        calls = len(alice.directory.calls)
        alice.watch_list.add(["bob", "BOB", "alice", "not a name"])
        await alice.watch_list.idle()
        assert len(alice.directory.calls) == calls

    run(scenario)


def test_being_added_again_to_a_group_watches_all_its_members_again() -> None:
    async def scenario(alice: Alice) -> None:
        await alice.sign_in()
        club = Log(["alice", "dave"], creator="erin")
        await alice.book.take(club.changes)
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"dave", "erin"}
        await alice.directory.unwatch(["dave", "erin"])
        await alice.book.take([club.then(ChangeKind.REMOVE, author="erin", member="alice")])
        await alice.watch_list.idle()
        assert alice.directory.watched() == frozenset()  # nothing new while she is out
        await alice.book.take([club.then(ChangeKind.ADD, author="erin", member="alice")])
        await alice.watch_list.idle()
        assert alice.directory.watched() == {"dave", "erin"}

    run(scenario)
