"""The rule that makes a group message's state (its summary) out of its deliveries' states.

Pure and shared by the SQLite adapter and the memory twin, so the two cannot drift apart. (It is
a rule about messages and could live in the domain; it lives here because only the stores apply
it, inside the transaction that moves the deliveries.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from chinwag.domain.message import MessageState

_PROGRESS: Final = {
    MessageState.QUEUED: 0,
    MessageState.PENDING: 1,
    MessageState.SENT: 2,
    MessageState.FAILED: 3,
    MessageState.DELIVERED: 4,
    MessageState.RECEIVED: 4,  # no delivery is ever received; if one were, nothing waits on it
}
"""How far a delivery is on its way, least advanced first. ``queued`` (the member cannot be
reached now, with a reason that says why) is behind ``pending`` (about to be written), so the
summary shows a stuck member before one that is merely not written yet. ``failed`` is done (it
will not move by itself) yet below ``delivered``: a message is ``delivered`` only when every
delivery is, and ``failed`` once every delivery is done and one of them failed."""


def summary(
    deliveries: Iterable[tuple[MessageState, str | None]],
) -> tuple[MessageState, str | None]:
    """The summary ``(state, reason)`` of a group message whose deliveries have these states
    and reasons (in recipient order): the least advanced of them, the first in that order on a
    tie (its reason comes with it); ``delivered`` (no reason) when there are none."""
    best: tuple[MessageState, str | None] = (MessageState.DELIVERED, None)
    rank = _PROGRESS[MessageState.DELIVERED]
    for state, reason in deliveries:
        if _PROGRESS[state] < rank:
            best, rank = (state, reason), _PROGRESS[state]
    return best
