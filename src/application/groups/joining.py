"""Whether this user takes a group somebody added them to, and the groups they did not take.

Anybody may add this user to a group; the group is taken when the change adding them arrives,
unless the log gives them a key that is not their own (every member would refuse their posts
there, and whoever holds that key could post as them) or they are in as many groups as one
user may be. Either way the user is told why, and the group is remembered as declined for
this run: its messages are refused and it is not asked for.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from uuid import UUID

from chinwag.application.groups.limits import MAX_DECLINED
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.events import ChatEvents
from chinwag.domain.errors import GroupFull, InvalidChange
from chinwag.domain.group import ChangeKind
from chinwag.domain.identity import fingerprint

log = logging.getLogger(__name__)


class TooManyGroups(GroupFull):
    """This user is in as many groups as one user may be (``MAX_GROUPS_PER_USER``)."""


class Joining:
    """Decides whether a group this user was added to is taken (see the module's text)."""

    def __init__(
        self,
        events: ChatEvents,
        own_key: bytes,
        check_room: Callable[[str], Awaitable[None]],
    ) -> None:
        self._events = events
        self._own_key = own_key
        self._check_room = check_room
        """Raises :class:`TooManyGroups` when the user may join no other group."""
        self._declined: OrderedDict[UUID, None] = OrderedDict()

    def declined(self, group: UUID) -> bool:
        """Whether this user was added to ``group`` but did not take it (this run)."""
        return group in self._declined

    async def may_join(self, me: str, view: GroupView) -> bool:
        """Whether ``me``, a member at the head of ``view`` (a group not known here until
        now), takes it; declined, the user is told why."""
        head = view.head
        adder = adder_of(view, me)
        key = head.key_of(me)
        if key != self._own_key:
            assert key is not None
            log.warning("group %s not joined: %s added us with the key %s, not ours", head.id,
                        adder, fingerprint(key))  # fmt: skip
            self._decline(
                head.id,
                InvalidChange.code,
                f"{adder} added you to the group {head.name!r} with a key that is not yours "
                f"({fingerprint(key)}; yours is {fingerprint(self._own_key)}): it was not "
                "joined, since every member would refuse your posts there and whoever holds "
                "that key could post as you (ask them to add you again)",
            )
            return False
        try:
            await self._check_room(me)
        except TooManyGroups as exc:
            self._decline(
                head.id,
                exc.code,
                f"{adder} added you to the group {head.name!r}, but you are in as many groups "
                "as one user can be in: it was not joined (leave a group, then ask to be added "
                "again)",
            )
            return False
        return True

    def check_own_key(self, me: str, before: GroupView, after: GroupView) -> None:
        """Tell the user when a change of a group they are in gives them a key that is not
        theirs (removed and added again with another key): every member refuses their posts
        there from then on, and whoever holds that key can post as them."""
        key = after.head.key_of(me)
        if key is None or key == self._own_key or key == before.head.key_of(me):
            return
        adder = adder_of(after, me)
        log.warning("group %s: %s gave us the key %s, not ours", after.id, adder,
                    fingerprint(key))  # fmt: skip
        self._events.error(
            InvalidChange.code,
            f"{adder} added you to the group {after.head.name!r} again with a key that is not "
            f"yours ({fingerprint(key)}): the other members will refuse your posts there, and "
            "whoever holds that key can post as you; leave the group, or ask an admin to "
            "remove you and add you again",
        )

    def _decline(self, group: UUID, code: str, text: str) -> None:
        self._declined[group] = None
        while len(self._declined) > MAX_DECLINED:
            self._declined.popitem(last=False)
        self._events.error(code, text)


def adder_of(view: GroupView, me: str) -> str:
    """Who made ``me`` a member as the group is now: the author of the last change adding
    them (an add, or the create)."""
    for change in reversed(view.chain):
        if change.kind is ChangeKind.ADD and change.member == me:
            return change.author
    return view.chain[0].author
