"""Several users of groups on one in-memory registry and network, for the groups' unit tests.

Each user has the application as the container wires it (book, progress, sync, intake, the
use cases, the real courier and trust policy) over the in-memory twins; signatures are faked
(a key's signature of a message is SHA-256 of the key and the message, twice over: 64 bytes),
so a message signed with the wrong key, or altered after signing, fails as a forged Ed25519
one would. The network can be cut between users (:meth:`World.cut`) to make them write
concurrently. Logs and messages can also be written by hand (:class:`Log`, :func:`post`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

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
from chinwag.application.delivery import Courier, CourierSettings
from chinwag.application.errors import PeerUnreachable
from chinwag.application.groups import (
    GroupBook,
    GroupIntake,
    GroupProgress,
    GroupSync,
    MemberKeys,
    SyncSettings,
)
from chinwag.application.groups.locks import GroupLocks
from chinwag.application.groups.withdraw import Withdrawals
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport, GroupHave
from chinwag.application.presence import PresenceRelay
from chinwag.application.quota import InboundQuota
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import (
    Groups,
    LoadHistory,
    PostToGroup,
    ReceiveMessages,
    SignIn,
    SignOut,
)
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, apply, genesis
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.user import PeerAddress

ANY_PORT = PeerAddress(host="memory", port=0)


def key_of(name: str) -> bytes:
    return hashlib.sha256(b"identity:" + name.encode()).digest()


def fake_signature(key: bytes, message: bytes) -> bytes:
    first = hashlib.sha256(key + message).digest()
    return first + hashlib.sha256(first).digest()


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def verify(key: bytes, message: bytes, signature: bytes) -> bool:
    return signature == fake_signature(key, message)


def sign(change: Change, by: str | None = None) -> Change:
    return change.signed(fake_signature(key_of(by or change.author), change.signed_bytes()))


class Log:
    """A group's log written by hand: its changes, and its state after each."""

    def __init__(
        self, members: Iterable[str] = ("bob", "carol"), *, creator: str = "alice"
    ) -> None:
        create = sign(
            Change.create(
                author=creator,
                key=key_of(creator),
                name="friends",
                members={m: key_of(m) for m in members},
                at=T0,
            )
        )
        self.changes = [create]
        self.states = [genesis(create, verify)]

    @property
    def id(self) -> UUID:
        return self.states[0].id

    @property
    def head(self) -> GroupState:
        return self.states[-1]

    def then(self, kind: ChangeKind, author: str = "alice", **fields: Any) -> Change:
        if kind is ChangeKind.ADD:
            fields.setdefault("key", key_of(fields["member"]))
        change = sign(
            Change(
                group=self.id,
                kind=kind,
                version=self.head.version + 1,
                prev=self.head.head,
                author=author,
                at=T0,
                **fields,
            )
        )
        self.states.append(apply(self.head, change, verify))
        self.changes.append(change)
        return change


def post(
    group: UUID,
    author: str,
    seq: int,
    body: str = "",
    *,
    version: int = 0,
    signer: str | None = None,
) -> Message:
    """``author``'s message ``seq`` of ``group``, signed by ``signer`` (the author)."""
    draft = Message(
        id=UUID(int=(sum(author.encode()) << 32) + seq),
        conversation_id=group,
        sender=author,
        group_id=group,
        stamp=GroupStamp(seq=seq, version=version),
        body=body or f"{author} {seq}",
        sent_at=T0,
        state=MessageState.PENDING,
    )
    signature = fake_signature(key_of(signer or author), signed_bytes(draft))
    return draft.model_copy(
        update={"stamp": GroupStamp(seq=seq, version=version, signature=signature)}
    )


class FakeSignatures:
    """The ``Signatures`` port with the fake scheme above; counts checks."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.checks = 0

    def sign(self, message: bytes) -> bytes:
        return fake_signature(self.key, message)

    def verify(self, key: bytes, message: bytes, signature: bytes) -> bool:
        self.checks += 1
        return signature == fake_signature(key, message)


class CutTransport(InMemoryTransport):
    """The in-memory transport, with peers it cannot reach (:attr:`cut`), and a log of what it
    sent: ``(kind, peer)`` for every delivery, have and changes frame that went out."""

    def __init__(self, network: InMemoryNetwork, key: bytes) -> None:
        super().__init__(network, key)
        self.cut: set[str] = set()
        self.sent: list[tuple[str, str, object]] = []

    def _check(self, peer: str) -> None:
        if peer in self.cut:
            raise PeerUnreachable(f"{peer} is cut off", "unreachable")

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self._check(peer)
        self.sent.append(("messages", peer, [m.id for m in messages]))
        return await super().deliver(peer, location, messages)

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        self._check(peer)
        self.sent.append(("have", peer, have))
        await super().send_have(peer, location, have)

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        self._check(peer)
        self.sent.append(("changes", peer, list(changes)))
        await super().send_changes(peer, location, changes)


class User:
    """One user's client: the application over in-memory adapters."""

    def __init__(
        self,
        world: World,
        name: str,
        sync: SyncSettings,
        history: tuple[InMemoryMessageRepository, InMemoryGroupRepository] | None = None,
    ) -> None:
        self.name = name
        self.world = world
        self.key = key_of(name)
        self.clock = ManualClock(step=timedelta(0))
        self.session = Session()
        self.events = RecordingEvents()
        self.messages, self.changes = history or (
            InMemoryMessageRepository(),
            InMemoryGroupRepository(),
        )
        self.conversations = InMemoryConversationRepository(self.messages)
        self.signatures = FakeSignatures(self.key)
        self.directory = InMemoryDirectory(world.registry, self.key)
        self.transport = CutTransport(world.network, self.key)
        self.trust = TrustPolicy(
            InMemoryContactRepository(), self.directory, self.events, self.clock, self.key
        )
        self.courier = Courier(
            self.directory,
            self.transport,
            self.messages,
            self.events,
            self.trust,
            CourierSettings(retry_delay=0.01),
        )
        self.ledger = ConversationLedger(self.conversations)
        quota = InboundQuota()
        self.book = GroupBook(
            self.session, self.changes, self.signatures, self.events, self.clock, self.key
        )
        self.progress = GroupProgress(self.messages)
        self.locks = GroupLocks()
        self.withdrawals = Withdrawals(
            self.session, self.messages, self.events, self.progress, self.locks
        )
        self.book.on_chain_change(self.withdrawals.changed)
        self.sync = GroupSync(
            self.session,
            self.book,
            self.progress,
            self.messages,
            self.transport,
            self.directory,
            self.trust,
            self.courier,
            self.clock,
            sync,
            deferred=self.courier,
        )
        self.intake = GroupIntake(
            self.book,
            self.progress,
            self.messages,
            self.ledger,
            self.events,
            self.signatures,
            self.sync,
            quota,
            self.trust,
            self.locks,
        )
        self.receive = ReceiveMessages(
            self.session,
            self.messages,
            self.ledger,
            self.events,
            self.trust,
            self.courier,
            self.clock,
            quota,
            self.intake,
        )
        self.presence = PresenceRelay(self.events, self.courier, None, self.sync)
        self.groups = Groups(
            self.session, self.book, MemberKeys(self.directory, self.trust), self.progress
        )
        self.post = PostToGroup(
            self.session,
            self.book,
            self.progress,
            self.messages,
            self.ledger,
            self.courier,
            self.events,
            self.signatures,
            self.clock,
            SequentialIds(prefix=len(world.users) + 1),
        )
        self.history = LoadHistory(self.session, self.messages)

    async def sign_in(self) -> None:
        await SignIn(
            self.session,
            self.directory,
            self.transport,
            self.receive,
            self.presence,
            self.messages,
            self.courier,
            self.trust,
        ).execute(self.name, ANY_PORT)

    async def sign_out(self) -> None:
        await SignOut(self.session, self.directory, self.transport, self.courier).execute()
        await self.sync.close()

    async def reconnect(self) -> None:
        """Leave the registry and come back (as after a lost connection): everybody online
        sees this user come online again, and this user sees everybody."""
        await self.directory.sign_out()
        await self.directory.sign_in(self.name, self.session.address, self.presence)

    async def head(self, group: UUID) -> bytes | None:
        view = await self.book.view(group)
        return None if view is None else view.head.head

    async def bodies(self, group: UUID) -> list[str]:
        """The bodies of the group's conversation here, in the order stored."""
        return [m.body for m in await self.messages.page(group, 500)][::-1]

    async def by_author(self, group: UUID) -> dict[str, list[int]]:
        """Each author's sequence numbers stored here, in the order stored."""
        seen: dict[str, list[int]] = {}
        for message in reversed(await self.messages.page(group, 500)):
            assert message.stamp is not None
            seen.setdefault(message.sender, []).append(message.stamp.seq)
        return seen


class World:
    """A registry, a network and the users on them."""

    def __init__(self, sync: SyncSettings | None = None) -> None:
        self.registry = InMemoryRegistry()
        self.network = InMemoryNetwork()
        self.users: dict[str, User] = {}
        self._sync = sync or SyncSettings(interval=0.0)

    def user(self, name: str) -> User:
        user = self.users[name] = User(self, name, self._sync)
        return user

    def restart(self, name: str) -> User:
        """A new client for ``name`` over the history of the one before (signed out)."""
        before = self.users[name]
        user = self.users[name] = User(self, name, self._sync, (before.messages, before.changes))
        return user

    async def online(self, *names: str) -> list[User]:
        """Make and sign in users (in order)."""
        users = [self.user(name) for name in names]
        for user in users:
            await user.sign_in()
        return users

    def cut(self, name: str) -> None:
        """``name`` can reach nobody, and nobody can reach ``name``."""
        for other in self.users.values():
            if other.name == name:
                other.transport.cut |= set(self.users) - {name}
            else:
                other.transport.cut.add(name)

    def heal(self) -> None:
        for user in self.users.values():
            user.transport.cut.clear()

    async def until(self, condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds, letting every frame and sync run; TimeoutError
        after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not await condition():
                await self.network.drain()
                for user in list(self.users.values()):
                    await user.sync.idle()
                    await user.withdrawals.idle()
                await asyncio.sleep(0.002)

    async def quiet(self) -> None:
        """Let every frame and sync sent so far run (several rounds: answers send more)."""
        for _ in range(5):
            await self.network.drain()
            for user in list(self.users.values()):
                await user.sync.idle()
                await user.withdrawals.idle()
            await asyncio.sleep(0)

    async def close(self) -> None:
        for user in self.users.values():
            if user.session.user is not None:
                await user.sign_out()
        await self.network.drain()


def record_calls(target: object, method: str) -> list[tuple[Any, ...]]:
    """Every call of ``target``'s async ``method`` from now on (its arguments, in order; the
    call is still made): e.g. a client's registry lookups (``user.directory``, ``"lookup"``),
    or what it pins on its way out (``user.trust``, ``"outgoing"``)."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(target, method)

    async def recorded(*args: Any) -> Any:
        calls.append(args)
        return await original(*args)

    setattr(target, method, recorded)
    return calls


def frames(user: User, kind: str, to: str, since: int = 0) -> list[Any]:
    """What ``user`` sent ``to`` of ``kind`` (``messages``: the ids; ``have``; ``changes``),
    from the ``since``-th frame it sent on."""
    return [what for k, peer, what in user.transport.sent[since:] if k == kind and peer == to]
