"""Real clients for the group attack tests (issue 10): each one the container as the CLI wires
it (Ed25519 identity, Noise sessions over TCP, SQLite), in the test's own process, against a
real registry server on loopback.

Honest members are left alone; only what crosses their edges is recorded, so a test can say
exactly what a member's application decided about a batch (its ``Intake``, with the reason
codes that never reach the sender) and what it sent to whom. The attacker is a client like the
others, signed in with its own valid identity, whose misbehaviour is all by hand: it never
syncs on its own (so nothing honest of hers races a forgery) and it sends hand-made
``messages``, ``group_have`` and ``group_changes`` frames through its own real transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import DeliveryReport, GroupHave, Incoming, Intake
from chinwag.application.refusals import REFUSED
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.container import Container, close_storage, open_storage
from tests.processes import client_config
from tests.support import eventually, wait_until

REFUSED_CODE, REFUSED_REASON = REFUSED
"""A group message refused for good: the code the receiver's application gives it, and the
reason its receipt carries back (the sender's ``DeliveryReport`` keeps the reason)."""

SETTLE = 30.0
"""Seconds any one wait on a condition may take (loopback: far more than needed)."""


@dataclass(frozen=True)
class Sent:
    """One send of a client's transport: to whom, which frame, what it carried."""

    peer: str
    kind: str  # "messages", "changes" or "have"
    what: tuple[Any, ...]


@dataclass
class Member:
    """One real client and what crossed its edges since it started (kept across restarts)."""

    name: str
    folder: Path
    port: int
    events: RecordingEvents = field(default_factory=RecordingEvents)
    intakes: list[tuple[str, list[Incoming], Intake]] = field(default_factory=list)
    """Every batch of messages handed to this client's application: from whom, what, verdict."""
    changes_in: list[tuple[str, list[Change]]] = field(default_factory=list)
    haves_in: list[tuple[str, GroupHave]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    container: Any = None

    # --- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        container = Container(events=self.events)
        container.config.from_dict(client_config(self.folder, self.name, self.port))
        await asyncio.to_thread(open_storage, container)
        self.container = container
        self._record(container)
        await container.use_cases.sign_in().execute(
            self.name, PeerAddress(host="127.0.0.1", port=0)
        )

    async def stop(self) -> None:
        container, self.container = self.container, None
        if container is None:
            return
        try:
            await container.use_cases.sign_out().execute()
        finally:
            await asyncio.to_thread(close_storage, container)

    @property
    def online(self) -> bool:
        return self.container is not None

    def _record(self, container: Any) -> None:
        """Wrap the application's inbound handler and the transport's sends (the objects the
        transport and the use cases hold), recording what passes and passing it on."""
        handler = container.use_cases.receive_messages()
        messages_received = handler.messages_received
        changes_received = handler.group_changes_received
        have_received = handler.group_have_received

        async def on_messages(peer: str, messages: Sequence[Incoming]) -> Intake:
            intake: Intake = await messages_received(peer, messages)
            self.intakes.append((peer, list(messages), intake))
            return intake

        async def on_changes(peer: str, changes: Sequence[Change]) -> None:
            await changes_received(peer, changes)
            self.changes_in.append((peer, list(changes)))

        async def on_have(peer: str, have: GroupHave) -> None:
            await have_received(peer, have)  # the answer, if any, is under way when it returns
            self.haves_in.append((peer, have))

        handler.messages_received = on_messages
        handler.group_changes_received = on_changes
        handler.group_have_received = on_have

        transport = container.adapters.transport()
        deliver, send_changes, send_have = (
            transport.deliver,
            transport.send_changes,
            transport.send_have,
        )

        async def recording_deliver(
            peer: str, location: PeerLocation, messages: Sequence[Message]
        ) -> DeliveryReport:
            self.sent.append(Sent(peer, "messages", tuple(messages)))
            report: DeliveryReport = await deliver(peer, location, messages)
            return report

        async def recording_changes(
            peer: str, location: PeerLocation, changes: Sequence[Change]
        ) -> None:
            self.sent.append(Sent(peer, "changes", tuple(changes)))
            await send_changes(peer, location, changes)

        async def recording_have(peer: str, location: PeerLocation, have: GroupHave) -> None:
            self.sent.append(Sent(peer, "have", (have,)))
            await send_have(peer, location, have)

        transport.deliver = recording_deliver
        transport.send_changes = recording_changes
        transport.send_have = recording_have

    # --- use cases -------------------------------------------------------------------------

    async def create(self, name: str, members: Sequence[str]) -> GroupState:
        state: GroupState = await self.container.use_cases.groups().create(name, members)
        return state

    async def remove(self, group: UUID, member: str) -> GroupState:
        state: GroupState = await self.container.use_cases.groups().remove(group, member)
        return state

    async def rename(self, group: UUID, name: str) -> GroupState:
        state: GroupState = await self.container.use_cases.groups().rename(group, name)
        return state

    async def post(self, group: UUID, body: str) -> Message:
        message: Message = await self.container.use_cases.post_to_group().execute(group, body)
        return message

    async def history(self, group: UUID) -> list[Message]:
        page: list[Message] = await self.container.use_cases.load_history().group(group, 500)
        return page

    async def search(self, text: str) -> list[Message]:
        found: list[Message] = await self.container.use_cases.search_history().execute(text)
        return found

    async def head(self, group: UUID) -> GroupState | None:
        """The group's state as this client knows it now (None: not known here)."""
        view: GroupView | None = await self.container.use_cases.group_book().view(group)
        return None if view is None else view.head

    async def outbox(self) -> int:
        entries = await self.container.adapters.messages().pending_deliveries(self.name)
        return len(entries)

    async def announce(self, peer: str, group: UUID) -> None:
        """Send ``peer`` this client's true have of ``group`` now (what its sync sends on a
        trigger, without the rate limit)."""
        view = await self.container.use_cases.group_book().view(group)
        assert view is not None, f"{self.name} does not know the group"
        progress = await self.container.use_cases.group_progress().of(group)
        have = GroupHave(group, view.head.version, view.head.head, dict(progress), reply=False)
        location = await self.container.adapters.directory().lookup(peer)
        await self.container.adapters.transport().send_have(peer, location, have)

    async def sync_idle(self) -> None:
        """Wait until no sync send (an answer to a have, a push) is under way here."""
        await self.container.use_cases.group_sync().idle()

    # --- judging -------------------------------------------------------------------------

    def verdict(self, message_id: UUID) -> str:
        """What this client's application last decided about ``message_id``: ``committed``,
        ``deferred:CODE`` or the refusal's code (``refused``, ``invalid_message``...)."""
        for _, _, intake in reversed(self.intakes):
            if message_id in intake.committed:
                return "committed"
            if message_id in intake.deferred:
                return f"deferred:{intake.deferred[message_id]}"
            if message_id in intake.rejected:
                return intake.rejected[message_id][0]
        raise AssertionError(f"{self.name} was never handed message {message_id}")

    def heard(self, kind: str, peer: str) -> int:
        """How many ``kind`` frames (``messages``, ``changes``, ``have``) came from ``peer``."""
        senders = {
            "messages": [peer for peer, _, _ in self.intakes],
            "changes": [peer for peer, _ in self.changes_in],
            "have": [peer for peer, _ in self.haves_in],
        }
        return senders[kind].count(peer)

    async def hears(self, kind: str, peer: str, beyond: int) -> None:
        """Wait until this client's application has handled more than ``beyond`` ``kind``
        frames from ``peer``."""
        await wait_until(
            lambda: self.heard(kind, peer) > beyond, SETTLE, f"{self.name} to hear {peer}"
        )

    async def stored(self, message_id: UUID) -> Message:
        """A message as stored here (as signed, so it can be forwarded)."""
        message: Message | None = await self.container.adapters.messages().get(message_id)
        assert message is not None, f"{self.name} does not store {message_id}"
        return message

    @property
    def key(self) -> bytes:
        """This client's identity key."""
        key: bytes = self.container.adapters.identity_key()
        return key

    async def delivery(self, message_id: UUID, recipient: str) -> str:
        """The state of this client's delivery of ``message_id`` to ``recipient``."""
        deliveries = await self.container.adapters.messages().deliveries(message_id)
        return next(str(d.state) for d in deliveries if d.recipient == recipient)

    def sent_to(self, peer: str, since: int = 0) -> list[Sent]:
        return [s for s in self.sent[since:] if s.peer == peer]


class Attacker(Member):
    """A signed-in client that misbehaves by hand (see the module docstring)."""

    def _record(self, container: Any) -> None:
        super()._record(container)
        sync = container.use_cases.group_sync()

        def nothing(*args: object) -> None:
            return None

        # Never greets, answers or asks on its own: what she sends is what the test sends.
        for name in ("online", "have_received", "request"):
            setattr(sync, name, nothing)

    async def location(self, peer: str) -> PeerLocation:
        found: PeerLocation = await self.container.adapters.directory().lookup(peer)
        return found

    async def deliver(self, peer: str, *messages: Message) -> DeliveryReport:
        """A hand-made ``messages`` frame to ``peer`` over her own real session; its report."""
        report: DeliveryReport = await self.container.adapters.transport().deliver(
            peer, await self.location(peer), list(messages)
        )
        return report

    async def send_have(self, peer: str, have: GroupHave) -> None:
        await self.container.adapters.transport().send_have(peer, await self.location(peer), have)

    async def send_changes(self, peer: str, changes: Sequence[Change]) -> None:
        transport = self.container.adapters.transport()
        await transport.send_changes(peer, await self.location(peer), list(changes))

    def sign(self, message: Message) -> Message:
        """``message`` with her own real signature over its signed bytes, whoever it names."""
        assert message.stamp is not None
        signature = self.container.adapters.signatures().sign(signed_bytes(message))
        stamp = message.stamp.model_copy(update={"signature": signature})
        return message.model_copy(update={"stamp": stamp})

    def craft(
        self,
        group: UUID,
        body: str,
        *,
        seq: int,
        version: int,
        author: str | None = None,
        message_id: UUID | None = None,
    ) -> Message:
        """A new group message ``author`` (herself by default) never wrote, signed by her
        (under ``message_id``, a fresh id by default)."""
        draft = Message(
            id=message_id or uuid4(),
            conversation_id=group,
            sender=author or self.name,
            group_id=group,
            stamp=GroupStamp(seq=seq, version=version),
            body=body,
            sent_at=datetime.now(UTC),
            state=MessageState.PENDING,
        )
        return self.sign(draft)

    def create_by_hand(self, name: str, members: dict[str, bytes]) -> Change:
        """Her own signed create of a group with ``members`` (name -> the key she says)."""
        draft = Change.create(
            author=self.name,
            key=self.key,
            name=name,
            members=members,
            at=datetime.now(UTC),
        )
        return self.sign_change(draft)

    def sign_change(self, change: Change) -> Change:
        return change.signed(self.container.adapters.signatures().sign(change.signed_bytes()))

    def change_on(self, head: GroupState, kind: ChangeKind, **fields: Any) -> Change:
        """Her own signed change of ``kind`` on top of ``head`` (valid or not by the rules)."""
        draft = Change(
            group=head.id,
            kind=kind,
            version=head.version + 1,
            prev=head.head,
            author=self.name,
            at=datetime.now(UTC),
            **fields,
        )
        return self.sign_change(draft)


def altered(message: Message, **fields: Any) -> Message:
    """``message`` with ``fields`` changed (``seq``/``version`` in its stamp), keeping its
    signature as it was."""
    stamp = message.stamp
    assert stamp is not None
    stamped: dict[str, Any] = {k: fields.pop(k) for k in ("seq", "version") if k in fields}
    if stamped:
        fields["stamp"] = stamp.model_copy(update=stamped)
    return message.model_copy(update=fields)


@dataclass
class World:
    """A registry and clients by name; ``mallory`` is the attacker."""

    server: RegistryServer
    port: int
    clients: dict[str, Member]

    def __getitem__(self, name: str) -> Member:
        return self.clients[name]

    @property
    def mallory(self) -> Attacker:
        attacker = self.clients["mallory"]
        assert isinstance(attacker, Attacker)
        return attacker

    def honest(self, *names: str) -> list[Member]:
        """The honest clients (those named, or all of them)."""
        return [c for n, c in self.clients.items() if n != "mallory" and (not names or n in names)]

    async def create(self, admin: str, members: Sequence[str]) -> UUID:
        """``admin`` creates the group; its id once every member has it."""
        state = await self.clients[admin].create("Friends", members)
        await self.at_version(state.id, state.version, admin, *members)
        return state.id

    async def at_version(self, group: UUID, version: int, *names: str) -> None:
        """Wait until each of ``names`` knows ``group`` at ``version``."""
        for name in names:
            client = self.clients[name]

            async def reached(client: Member = client) -> bool:
                head = await client.head(group)
                return head is not None and head.version == version

            await eventually(reached, SETTLE, f"{name} to know the group at version {version}")

    async def holding(self, group: UUID, message: Message, *names: str) -> None:
        """Wait until each of ``names`` stores ``message``."""
        for name in names:
            client = self.clients[name]

            async def stored(client: Member = client) -> bool:
                return message.id in {m.id for m in await client.history(group)}

            await eventually(stored, SETTLE, f"{name} to store {message.body!r}")

    async def settled(self) -> None:
        """Wait until no online client has a delivery waiting."""

        async def empty() -> bool:
            counts = [await c.outbox() for c in self.clients.values() if c.online]
            return sum(counts) == 0

        await eventually(empty, SETTLE, "every outbox to empty")
        for client in self.clients.values():
            if client.online:
                await client.sync_idle()


@asynccontextmanager
async def world(folder: Path, *names: str) -> AsyncIterator[World]:
    """A registry and a signed-in client for each of ``names`` plus ``mallory`` (last)."""
    server = RegistryServer("127.0.0.1", 0, security=Security(LocalKeys.generate()))
    _, port = await server.start()
    clients: dict[str, Member] = {n: Member(n, folder / n, port) for n in names}
    clients["mallory"] = Attacker("mallory", folder / "mallory", port)
    try:
        for client in clients.values():
            await client.start()
        yield World(server, port, clients)
    finally:
        for client in clients.values():
            await client.stop()
        await server.close()
