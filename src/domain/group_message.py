"""Group messages: what their author signs, and who may post under which membership version.

A group message is forwarded by any member (history fills itself in), so what proves it is its
author's signature, not the session it arrives on. The signature covers everything a member
shows or orders by: the group, the message id, the author, the author's sequence number in the
group, the membership version it was sent under, its time and its body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from chinwag.domain.errors import InvalidMessage, NotAMember
from chinwag.domain.group import Change, ChangeKind, canonical_json
from chinwag.domain.group_log import GroupState, VersionNotReached
from chinwag.domain.message import Message

MESSAGE_CONTEXT: Final = b"chinwag-group-message:"
"""The context every group message's signed bytes start with (see ``Signatures``)."""

MESSAGE_FORMAT: Final = "chinwag.group.message/1"


def signed_bytes(message: Message) -> bytes:
    """The bytes a group message's author signs: :data:`MESSAGE_CONTEXT`, then the canonical
    JSON (:func:`~chinwag.domain.group.canonical_json`) of ``type`` (:data:`MESSAGE_FORMAT`),
    ``group`` and ``id`` (UUIDs, lowercase with hyphens), ``author``, ``seq`` and ``version``
    (integers), ``sent_at`` (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``) and ``body``; for a file
    offer also ``file``: its ``name``, ``size``, ``piece_size``, ``mime``, and ``sha256`` and
    ``root`` in lowercase hex (absent for other messages, so their bytes are as before)."""
    if message.group_id is None or message.stamp is None:
        raise InvalidMessage("only a group message is signed")
    signed: dict[str, object] = {
        "type": MESSAGE_FORMAT,
        "group": str(message.group_id),
        "id": str(message.id),
        "author": message.sender,
        "seq": message.stamp.seq,
        "version": message.stamp.version,
        "sent_at": message.sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "body": message.body,
    }
    offer = message.file
    if offer is not None:
        signed["file"] = offer.fields()
    return MESSAGE_CONTEXT + canonical_json(signed)


def departing(change: Change) -> str | None:
    """Whose membership ``change`` ends (or cuts, once they are gone): the member a ``remove``
    names, the author of a ``leave``; ``None`` for the other kinds."""
    if change.kind is ChangeKind.REMOVE:
        return change.member
    if change.kind is ChangeKind.LEAVE:
        return change.author
    return None


def departure_cut(chain: Sequence[Change], version: int, author: str) -> int | None:
    """The smallest ``upto`` among the changes after ``version`` that end ``author``'s
    membership (their removal, or their leaving) or cut it afterwards (an admin's ``remove``
    of them once they are gone), up to the next change that adds ``author`` again (not
    included); ``None`` if none of them has one. ``author``'s messages sent under ``version``
    with a higher sequence number do not count.

    The smallest, not the first: a member who leaves writes its own ``upto``, and a dishonest
    one writes a huge one (or none) to keep posting under a version from before it left; an
    admin's cut then caps it, the same way for every member holding the chain. An ``add``
    starts a new membership, whose messages are sent under versions from the add on."""
    cut: int | None = None
    for change in chain[version + 1 :]:
        if change.kind is ChangeKind.ADD and change.member == author:
            break
        gone = departing(change) == author
        if gone and change.upto is not None and (cut is None or change.upto < cut):
            cut = change.upto
    return cut


def within_cut(chain: Sequence[Change], message: Message) -> bool:
    """Whether group message ``message`` is numbered within its author's departure cut after
    the version it was sent under (see :func:`departure_cut`): whether it may count."""
    assert message.stamp is not None
    cut = departure_cut(chain, message.stamp.version, message.sender)
    return cut is None or message.stamp.seq <= cut


def author_key(
    states: Sequence[GroupState], message: Message, chain: Sequence[Change] = ()
) -> bytes:
    """The key ``message``'s author had in the group at the version it was sent under: the key
    its signature must verify with.

    ``states`` is the group's state after each change of its canonical chain (``[i]`` is version
    ``i``, as :func:`~chinwag.domain.group_log.replay` gives). The rule is the same for every
    member, whatever it learnt when, so members holding the same chain accept the same
    messages: the author must be a member at that version. A version past the chain's head
    raises :class:`VersionNotReached` (the message waits for the changes it was sent after); an
    author who is not a member then raises :class:`NotAMember`, as does a message numbered past
    the ``upto`` of the author's departure after that version (``chain``: the canonical chain the
    states were replayed from; see :func:`departure_cut`).
    """
    assert message.stamp is not None
    if message.stamp.version >= len(states):
        raise VersionNotReached(
            f"the message was sent under membership version {message.stamp.version}; "
            f"this member knows up to {len(states) - 1}"
        )
    key = states[message.stamp.version].key_of(message.sender)
    if key is None:
        raise NotAMember(
            f"{message.sender} was not a member of the group at version {message.stamp.version}"
        )
    if not within_cut(chain, message):
        cut = departure_cut(chain, message.stamp.version, message.sender)
        raise NotAMember(
            f"{message.sender} left the group (or was removed) after their message {cut}; "
            f"this is their message {message.stamp.seq}"
        )
    return key
