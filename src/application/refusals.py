"""The codes a receiver gives a message it did not commit: one place for the application (which
decides them) and the transport (which carries them in receipts and tells "not now" from "never").

A message is refused **for now** (deferred) with one of :data:`WAITING`'s codes: the sender keeps
it queued and tries again later. Anything else is refused for good, and the sender marks that
delivery failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

REFUSED: Final = ("refused", "the recipient refused it")
"""A message declined for good: not from the peer to us, sent too far ahead, or a group message
whose author, membership or signature does not hold (the same words on the wire as ever)."""

OVER_QUOTA: Final = "over_quota"
"""The sender has sent more than the receiver takes for now."""
UNKNOWN_GROUP: Final = "unknown_group"
"""The receiver does not know the message's group yet (it asks for its log)."""
GROUP_BEHIND: Final = "group_behind"
"""The receiver has not learnt the membership version the message was sent under yet."""
GROUP_GAP: Final = "group_gap"
"""The receiver misses earlier messages of the message's author."""
IDENTITY_CHANGED: Final = "identity_changed"
"""The group's log gives the author another key than the one the receiver holds for that name
(or a key change of theirs waits): held until the receiver's user accepts that key."""

WAITING: Final[Mapping[str, str]] = MappingProxyType(
    {
        OVER_QUOTA: "the recipient takes no more for now",
        UNKNOWN_GROUP: "the recipient does not know this group yet",
        GROUP_BEHIND: "the recipient has not learnt this membership of the group yet",
        GROUP_GAP: "the recipient misses earlier messages of this author",
        IDENTITY_CHANGED: "the recipient has not accepted this author's key yet",
    }
)
"""The codes that mean "not now" (the sender keeps the message queued and tries again), with a
reason for people (the sender goes by the code)."""
