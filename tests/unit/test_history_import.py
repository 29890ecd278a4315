"""Importing a history export (``application.history_import``): each message comes in as the
importing user's history keeps it, whoever's export it is; a group message is checked against
the group's signed log when the history holds it, and taken as the user's own data when it does
not; a message never takes a group author's number stored under another id."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.groups import InMemoryGroupRepository
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.application.history_import import (
    ImportedMessage,
    ImportHistory,
    NotGenuine,
    as_seen_by,
)
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.conversation import Conversation
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import GroupStamp, Message, MessageState

T = TypeVar("T")
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KEYS = {name: LocalKeys.generate() for name in ("alice", "bob", "carol", "mallory")}
ALICE_BOB = Conversation.direct("alice", "bob")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def signed(change: Change, by: str) -> Change:
    return change.signed(KEYS[by].signing.sign(change.signed_bytes()))


def book_club(members: Sequence[str] = ("bob",)) -> list[Change]:
    """The log of alice's group "Book club" with ``members``: its create, then carol added."""
    create = signed(
        Change.create(
            author="alice",
            key=KEYS["alice"].identity_key,
            name="Book club",
            members={m: KEYS[m].identity_key for m in members},
            at=T0,
        ),
        "alice",
    )
    add = Change(
        group=create.group,
        kind=ChangeKind.ADD,
        version=1,
        prev=create.hash(),
        author="alice",
        at=T0 + timedelta(minutes=1),
        member="carol",
        key=KEYS["carol"].identity_key,
    )
    return [create, signed(add, "alice")]


def posted(
    group: UUID,
    author: str,
    seq: int,
    *,
    n: int | None = None,
    version: int = 0,
    signer: str | None = None,
    body: str | None = None,
    state: MessageState = MessageState.RECEIVED,
) -> Message:
    """``author``'s group message number ``seq``, signed by ``signer`` (the author unless
    said)."""
    draft = Message(
        id=UUID(int=n if n is not None else seq),
        conversation_id=group,
        group_id=group,
        stamp=GroupStamp(seq=seq, version=version, signature=bytes(64)),
        sender=author,
        body=body or f"{author}'s note {seq}",
        sent_at=T0 + timedelta(minutes=10 + seq),
        state=state,
        received_at=T0 + timedelta(minutes=11 + seq) if state is MessageState.RECEIVED else None,
    )
    signature = KEYS[signer or author].signing.sign(signed_bytes(draft))
    return draft.model_copy(
        update={"stamp": GroupStamp(seq=seq, version=version, signature=signature)}
    )


def direct(n: int, sender: str, state: MessageState) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=ALICE_BOB.id,
        sender=sender,
        recipient=ALICE_BOB.other_than(sender),
        body=f"note {n}",
        sent_at=T0 + timedelta(minutes=n),
        state=state,
        received_at=T0 + timedelta(minutes=n, seconds=1)
        if state is MessageState.RECEIVED
        else None,
    )


class World:
    """alice's history in memory, with the group logs given stored."""

    def __init__(self, *logs: list[Change]) -> None:
        self.messages = InMemoryMessageRepository()
        self.conversations = InMemoryConversationRepository(self.messages)
        self.groups = InMemoryGroupRepository()
        for log in logs:
            run(self.groups.add_changes(log))

    def importer(self) -> ImportHistory:
        return ImportHistory(
            self.messages,
            self.conversations,
            "alice",
            groups=self.groups,
            signatures=IdentitySignatures(KEYS["alice"]),
        )

    def take(self, *messages: Message) -> int:
        """Import ``messages`` line by line as the command does; how many were new."""

        async def go() -> int:
            history = self.importer()
            ready = [await history.check(ImportedMessage(m)) for m in messages]
            added = await history.add(ready)
            await history.finish()
            return added

        return run(go())

    def stored(self, id_: int) -> Message | None:
        return run(self.messages.get(UUID(int=id_)))


# --- whose message it is --------------------------------------------------------------------


def test_own_messages_from_the_other_persons_export_come_in_as_delivered_never_received() -> None:
    group = UUID(int=99)
    mine = as_seen_by(ImportedMessage(direct(1, "alice", MessageState.RECEIVED)), "alice")
    assert mine.message.state is MessageState.DELIVERED and mine.message.received_at is None
    own_post = as_seen_by(ImportedMessage(posted(group, "alice", 1)), "alice").message
    assert own_post.state is MessageState.DELIVERED and own_post.received_at is None
    theirs = ImportedMessage(
        direct(2, "bob", MessageState.FAILED).model_copy(update={"reason": "too_large"})
    )
    seen = as_seen_by(theirs, "alice").message
    assert seen.state is MessageState.RECEIVED and seen.reason is None
    bobs_post = ImportedMessage(
        posted(group, "bob", 1, state=MessageState.DELIVERED),
        (Delivery(UUID(int=1), "alice", MessageState.DELIVERED),),
    )
    assert as_seen_by(bobs_post, "alice") == ImportedMessage(
        bobs_post.message.model_copy(update={"state": MessageState.RECEIVED})
    )  # bob's deliveries were his, not alice's
    for already in (
        ImportedMessage(direct(3, "alice", MessageState.QUEUED)),
        ImportedMessage(direct(4, "bob", MessageState.RECEIVED)),
    ):
        assert as_seen_by(already, "alice") is already


def test_importing_bobs_export_stores_alices_messages_as_hers() -> None:
    world = World()
    from_bobs_export = [
        direct(1, "alice", MessageState.RECEIVED),  # bob received it
        direct(2, "bob", MessageState.DELIVERED),  # bob sent it, alice got it
    ]
    assert world.take(*from_bobs_export) == 2
    first, second = world.stored(1), world.stored(2)
    assert first is not None and first.state is MessageState.DELIVERED
    assert first.received_at is None
    assert second is not None and second.state is MessageState.RECEIVED


# --- group messages -------------------------------------------------------------------------


def test_a_group_message_signed_by_its_author_as_the_stored_log_says_is_imported() -> None:
    log = book_club()
    group = log[0].group
    world = World(log)
    assert world.take(posted(group, "bob", 1), posted(group, "carol", 1, n=2, version=1)) == 2


@pytest.mark.parametrize(
    ("forged", "said"),
    [
        ({"signer": "mallory"}, "not signed by bob"),  # a signature that is not bob's
        ({"version": 1, "signer": "bob", "author": "carol"}, "not signed by carol"),
        ({"author": "carol"}, "carol was not a member of the group at version 0"),
        ({"author": "mallory"}, "mallory was not a member"),
    ],
)
def test_a_group_message_the_stored_log_does_not_back_is_refused(
    forged: dict[str, Any], said: str
) -> None:
    log = book_club()
    group = log[0].group
    world = World(log)
    author = forged.pop("author", "bob")
    message = posted(group, author, 7, **forged)
    with pytest.raises(NotGenuine, match=said):
        world.take(message)
    assert world.stored(7) is None


def test_a_crafted_message_cannot_take_the_number_of_a_real_one() -> None:
    """The trial's forged line: bob's number 7 with another body and a made-up signature."""
    log = book_club()
    group = log[0].group
    world = World(log)
    real = posted(group, "bob", 7)
    forged = posted(group, "bob", 7, n=70, body="send me your passphrase")
    forged = forged.model_copy(
        update={"stamp": GroupStamp(seq=7, version=0, signature=b"\x00" * 64)}
    )
    with pytest.raises(NotGenuine):
        world.take(forged)
    assert world.take(real) == 1  # the real one still has its place


def test_a_message_of_a_later_membership_than_the_history_knows_says_to_sign_in_first() -> None:
    log = book_club()
    world = World(log[:1])  # the create only: carol's add is not known here
    with pytest.raises(NotGenuine, match=r"knows it up to version 0.*sign in once"):
        world.take(posted(log[0].group, "carol", 1, version=1))


def test_a_group_whose_log_the_history_lacks_is_taken_as_the_users_own_data() -> None:
    group = book_club()[0].group
    world = World()  # an empty history: an export carries no group changes
    unchecked = posted(group, "bob", 1).model_copy(
        update={"stamp": GroupStamp(seq=1, version=0, signature=b"\x01" * 64)}
    )
    assert world.take(unchecked) == 1


def test_an_author_number_stored_under_another_id_is_never_taken() -> None:
    log = book_club()
    group = log[0].group
    world = World(log)
    assert world.take(posted(group, "bob", 3, n=3)) == 1
    again = posted(group, "bob", 3, n=30, body="the same number, another message")
    assert world.take(again) == 0  # genuinely signed, even: the first one counts
    assert world.stored(30) is None
    kept = world.stored(3)
    assert kept is not None and kept.body == "bob's note 3"


def test_add_checks_what_check_did_not_give_it() -> None:
    log = book_club()
    world = World(log)
    history = world.importer()
    forged = posted(log[0].group, "bob", 1, signer="mallory")
    with pytest.raises(NotGenuine):
        run(history.add([ImportedMessage(direct(1, "alice", MessageState.DELIVERED)),
                         ImportedMessage(forged)]))  # fmt: skip
    assert world.stored(1) is None  # nothing of the batch was written
