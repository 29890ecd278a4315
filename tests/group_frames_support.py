"""Group changes and messages as the peer wire carries them, for the transport's tests.

The wire does not check signatures (the application does), so these are signed with random
bytes of the right size; the logs are well formed (versions, ``prev`` hashes), not valid by the
group rules."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from chinwag.domain.group import MAX_GROUP_NAME, MAX_MEMBERS, Change, ChangeKind
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.user import MAX_USERNAME_LENGTH

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def widest_name(n: int) -> str:
    """A distinct valid username of the most bytes there can be: 32 four-byte characters."""
    return "".join(chr(0x20000 + (n * MAX_USERNAME_LENGTH + i) % 0xA6D0) for i in range(32))


def key_of(n: int) -> bytes:
    return n.to_bytes(2, "big") * 16


def signed(change: Change) -> Change:
    return change.signed(os.urandom(64))


def create(members: int = 2, *, wide: bool = False) -> Change:
    """A signed create of a group of ``members`` (the creator included)."""
    names = [widest_name(i) if wide else f"member{i}" for i in range(members)]
    name = widest_name(999)[:MAX_GROUP_NAME] * 2 if wide else "friends"
    draft = Change.create(
        author=names[0],
        key=key_of(0),
        name=name,
        members={n: key_of(i + 1) for i, n in enumerate(names[1:])},
        at=T0,
    )
    return signed(draft)


def log(members: int = MAX_MEMBERS, adds: int = 0, *, wide: bool = True) -> list[Change]:
    """A group's log: a create of ``members`` then ``adds`` changes, each on the one before."""
    changes = [create(members, wide=wide)]
    for n in range(adds):
        before = changes[-1]
        changes.append(
            signed(
                Change(
                    group=before.group,
                    kind=ChangeKind.ADD,
                    version=before.version + 1,
                    prev=before.hash(),
                    author=changes[0].author,
                    at=T0 + timedelta(seconds=n + 1),
                    member=widest_name(1000 + n) if wide else f"added{n}",
                    key=key_of(1000 + n),
                )
            )
        )
    return changes


def group_message(
    body: str = "hello group",
    *,
    group: UUID | None = None,
    author: str = "alice",
    seq: int = 1,
    version: int = 0,
    signature: bytes | None = None,
) -> Message:
    group = group or uuid4()
    return Message(
        id=uuid4(),
        conversation_id=group,
        sender=author,
        group_id=group,
        stamp=GroupStamp(
            seq=seq, version=version, signature=os.urandom(64) if signature is None else signature
        ),
        body=body,
        sent_at=datetime.now(UTC),
        state=MessageState.PENDING,
    )
