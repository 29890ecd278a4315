"""Whether a group message is genuinely its author's: signed with the key the group's log gives
the author at the version it was sent under. The receive path checks every group message from
a peer with it, and the import of a history export every group message of a group whose log is
stored, so a message refused on the wire is refused in a file too.
"""

from __future__ import annotations

from uuid import UUID

from chinwag.application.groups.growth import compute
from chinwag.application.groups.view import GroupView, RememberedChecks
from chinwag.application.ports.group_repository import GroupRepository
from chinwag.application.ports.signatures import Signatures
from chinwag.domain.errors import InvalidSignature
from chinwag.domain.group_message import author_key, signed_bytes
from chinwag.domain.message import Message


def check_signed(view: GroupView, message: Message, signatures: Signatures) -> bytes:
    """The key ``message``'s author signed it with, as ``view`` (its group, as known here)
    gives it; :class:`~chinwag.domain.group_log.VersionNotReached` for a version past the
    chain's head, :class:`~chinwag.domain.errors.NotAMember` for an author who was no member
    then (or past their departure's cut), :class:`InvalidSignature` for a signature that is
    not that key's. All of them are ``DomainError``."""
    key = author_key(view.states, message, view.chain)
    assert message.stamp is not None
    if not signatures.verify(key, signed_bytes(message), message.stamp.signature):
        raise InvalidSignature(f"not signed by {message.sender}")
    return key


async def stored_view(
    groups: GroupRepository, group: UUID, signatures: Signatures
) -> GroupView | None:
    """``group`` as its stored log makes it, judged as the client judges it on loading (see
    :meth:`~chinwag.application.groups.book.GroupBook.view`); None if no valid create of it
    is stored."""
    return compute(group, await groups.changes(group), RememberedChecks(signatures))
