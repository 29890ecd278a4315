# mypy: ignore-errors
# (Runs against the chinwag of an OLD commit, whose API differs from today's: it is not
# type-checked against today's code. Ruff still checks it.)
"""What make_files.py writes into each history, with the repositories of the version at hand.

One user (alice) with three direct conversations (bob, carol, zoë): messages received and sent
in every state the client leaves them in (pending, sent, delivered, queued, failed), Unicode
bodies (emoji, right-to-left, CJK, combining accents, newlines and tabs). Then, as the version
has them: contacts pinned to their keys (3+), a read marker (4+), a group's signed membership
log (5+), group messages with a delivery per member (7+), file offers and transfer records (8+).
Keys are Ed25519 from fixed seeds, so every signature is genuine and the same on every run.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

OWNER = "alice"
"""Whose history every file is."""
NAMESPACE = UUID("8a1f6f0e-3c52-4b8e-9f3e-6d0c2f1b7a44")
T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
SEARCHED = "zanzibar"
"""A word only one old body holds: the test searches for it."""


def message_id(version: int, n: int) -> UUID:
    return uuid5(NAMESPACE, f"v{version}-message-{n}")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seed(name: str) -> bytes:
    return hashlib.sha256(b"chinwag history test data:" + name.encode()).digest()


def signing_key(name: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed(name))


def public_key(name: str) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return signing_key(name).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Writer:
    """Writes one history with the importable (old) chinwag of schema ``version``."""

    def __init__(self, version: int, db) -> None:
        from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
        from chinwag.adapters.sqlite.messages import SqliteMessageRepository

        self.version = version
        self.db = db
        self.messages = SqliteMessageRepository(db)
        self.conversations = SqliteConversationRepository(db)
        self.n = 0
        self.ids: list[str] = []
        self.conversation_ids: list[UUID] = []

    def next_id(self) -> UUID:
        self.n += 1
        return message_id(self.version, self.n)

    async def direct(self, peer: str):
        from chinwag.domain.conversation import Conversation

        conversation = Conversation.direct(OWNER, peer)
        await self.conversations.save([conversation])
        self.conversation_ids.append(conversation.id)
        return conversation

    def make(self, conversation, sender, recipient, body, minutes, state, **extra):
        from chinwag.domain.message import Message, MessageState

        fields = {
            "id": self.next_id(),
            "conversation_id": conversation.id,
            "sender": sender,
            "recipient": recipient,
            "body": body,
            "sent_at": at(minutes),
            "state": MessageState(state),
            **extra,
        }
        if self.version >= 3 and state == "received":
            fields["received_at"] = at(minutes + 0.05)
        return Message(**fields)

    async def receive(self, conversation, peer, body, minutes, **extra):
        message = self.make(conversation, peer, OWNER, body, minutes, "received", **extra)
        assert await self.messages.add([message]) == [message]
        return message

    async def send(self, conversation, peer, body, minutes, final, reason=None, **extra):
        """Stored ``pending`` as the client does, then moved to ``final`` (unless pending)."""
        from chinwag.application.ports.message_repository import StateChange
        from chinwag.domain.message import MessageState

        message = self.make(conversation, OWNER, peer, body, minutes, "pending", **extra)
        assert await self.messages.add([message]) == [message]
        if final == "failed":  # failed goes through queued, as a refused retry does
            await self.messages.update_states([StateChange(message.id, MessageState.QUEUED)])
        if final != "pending":
            await self.messages.update_states(
                [StateChange(message.id, MessageState(final), reason)]
            )
        return message

    async def write(self) -> dict:
        bob, carol, zoe = [await self.direct(p) for p in ("bob", "carol", "zoë")]
        first = await self.receive(bob, "bob", "Hi Alice! Coffee at the café tomorrow? ☕", 0)
        await self.send(bob, "bob", "Sure — 10 o'clock 👍\nsecond line\tand a tab", 1, "delivered")
        await self.send(bob, "bob", "Bringing the notes from Zanzibar 📎", 2, "sent")
        await self.send(carol, "carol", "Carol, are you back from Kraków? Łódź next?", 3, "queued")
        await self.send(carol, "carol", "ping", 4, "failed", "carol refused the message")
        await self.receive(zoe, "zoë", "مرحبا 你好 こんにちは — שלום 👋🏽", 5)
        await self.send(zoe, "zoë", "e\u0301te\u0301 (combining accents) 🇫🇷", 6, "pending")
        await self.receive(bob, "bob", "Great, see you there!", 7)
        if self.version >= 4:
            await self.conversations.mark_read(bob.id, first.id)
        return {}


async def write_contacts(db) -> None:
    from chinwag.adapters.sqlite.contacts import SqliteContactRepository
    from chinwag.domain.contact import Contact

    contacts = SqliteContactRepository(db)
    await contacts.save(
        Contact(name="bob", key=public_key("bob"), first_seen=at(-60), verified=True, accepted=True)
    )
    await contacts.save(Contact(name="carol", key=public_key("carol"), first_seen=at(-50)))
    await contacts.save(  # zoë's key changed since: the new one waits for the user's word
        Contact(
            name="zoë",
            key=public_key("zoë"),
            first_seen=at(-40),
            accepted=True,
            pending_key=public_key("zoë, new laptop"),
        )
    )


def sign_change(change):
    return change.signed(signing_key(change.author).sign(change.signed_bytes()))


async def write_group_changes(db) -> list:
    """A group alice made with bob and carol, then added zoë and renamed: its signed log."""
    from chinwag.adapters.sqlite.groups import SqliteGroupRepository
    from chinwag.domain.group import Change, ChangeKind

    create = sign_change(
        Change.create(
            author=OWNER,
            key=public_key(OWNER),
            name="Friends ✨ café",
            members={"bob": public_key("bob"), "carol": public_key("carol")},
            at=at(-30),
        )
    )
    add = sign_change(
        Change(
            group=create.group,
            kind=ChangeKind.ADD,
            version=1,
            prev=create.hash(),
            author=OWNER,
            at=at(-29),
            member="zoë",
            key=public_key("zoë"),
        )
    )
    rename = sign_change(
        Change(
            group=create.group,
            kind=ChangeKind.RENAME,
            version=2,
            prev=add.hash(),
            author=OWNER,
            at=at(-28),
            name="🦜 parrots",
        )
    )
    changes = [create, add, rename]
    assert await SqliteGroupRepository(db).add_changes(changes) == changes
    return changes


def signed(message):
    """``message`` with its group stamp signed by its author, as that version's client signs."""
    from chinwag.domain.group_message import signed_bytes

    signature = signing_key(message.sender).sign(signed_bytes(message))
    return message.model_copy(
        update={"stamp": message.stamp.model_copy(update={"signature": signature})}
    )


async def write_group_messages(writer: Writer, group: UUID) -> None:
    """bob's message to the group (received), and alice's, delivered to bob only so far."""
    from chinwag.application.ports.message_repository import StateChange
    from chinwag.domain.conversation import Conversation
    from chinwag.domain.message import GroupStamp, MessageState

    conversation = Conversation.of_group(group)
    await writer.conversations.save([conversation])
    writer.conversation_ids.append(conversation.id)
    stamp = GroupStamp(seq=1, version=2)  # each author's first message, under version 2
    heard = writer.make(
        conversation,
        "bob",
        None,
        "🦜 Who brings the cake?",
        8,
        "received",
        group_id=group,
        stamp=stamp,
    )
    heard = signed(heard)
    assert await writer.messages.add([heard]) == [heard]
    said = writer.make(
        conversation,
        OWNER,
        None,
        "I do: Sachertorte 🎂",
        9,
        "pending",
        group_id=group,
        stamp=stamp,
    )
    said = signed(said)
    members = {said.id: ["bob", "carol", "zoë"]}
    assert await writer.messages.add([said], members) == [said]
    await writer.messages.update_states(
        [
            StateChange(said.id, MessageState.DELIVERED, None, "bob"),
            StateChange(said.id, MessageState.QUEUED, None, "carol"),
            StateChange(said.id, MessageState.SENT, None, "zoë"),
        ]
    )


async def write_files(writer: Writer) -> None:
    """A photo alice is sending bob (half sent) and a document zoë offered (a third in)."""
    from chinwag.adapters.sqlite.transfers import SqliteTransferRepository
    from chinwag.application.ports.message_repository import StateChange
    from chinwag.domain.conversation import Conversation
    from chinwag.domain.message import MessageState
    from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState

    transfers = SqliteTransferRepository(writer.db)
    photo = FileOffer(
        name="holiday photo 🏖.jpg",
        size=1_000_000,
        sha256=hashlib.sha256(b"photo").digest(),
        piece_size=512 * 1024,
        root=hashlib.sha256(b"photo pieces").digest(),
        mime="image/jpeg",
    )
    bob = Conversation.direct(OWNER, "bob")
    offer = writer.make(bob, OWNER, "bob", f"📎 {photo.name}", 10, "pending", file=photo)
    record = Transfer(
        id=offer.id,
        direction=Direction.OUT,
        peer="bob",
        conversation_id=bob.id,
        offer=photo,
        state=TransferState.OFFERED,
        path="/home/alice/Pictures/holiday photo 🏖.jpg",
        created_at=at(10),
        updated_at=at(10),
    )
    assert await transfers.add(record)  # made before its message, as the client does
    await transfers.set_hashes(offer.id, hashlib.sha256(b"0").digest() * 2)
    assert await writer.messages.add([offer]) == [offer]
    await writer.messages.update_states([StateChange(offer.id, MessageState.DELIVERED)])
    await transfers.update(
        record.model_copy(
            update={"state": TransferState.ACTIVE, "bytes": 512 * 1024, "updated_at": at(11)}
        )
    )
    paper = FileOffer(
        name="отчёт.pdf",
        size=2 * 512 * 1024 + 7,
        sha256=hashlib.sha256(b"paper").digest(),
        piece_size=512 * 1024,
        root=hashlib.sha256(b"paper pieces").digest(),
        mime="application/pdf",
    )
    zoe = Conversation.direct(OWNER, "zoë")
    incoming = await writer.receive(zoe, "zoë", f"📎 {paper.name}", 12, file=paper)
    (made,) = await transfers.of_id(incoming.id)  # the received offer made its record
    await transfers.update(
        made.model_copy(
            update={"state": TransferState.ACTIVE, "directory": "/home/alice/Downloads"}
        )
    )
    await transfers.set_hashes(incoming.id, hashlib.sha256(b"p").digest() * 3)
    await transfers.set_pieces(incoming.id, b"\x80", 512 * 1024)


async def write_history(version: int, db):
    """Write everything ``version`` can store; the writer and the group's changes (if any)."""
    writer = Writer(version, db)
    await writer.write()
    changes = []
    if version >= 3:
        await write_contacts(db)
    if version >= 5:
        changes = await write_group_changes(db)
    if version >= 7:
        await write_group_messages(writer, changes[0].group)
    if version >= 8:
        await write_files(writer)
    return writer, changes
