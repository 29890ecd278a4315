"""A group as this client knows it: every change learnt, the canonical chain, the states.

Computed from the changes (:func:`compute`) and replaced whole when a change arrives, so a
reader holding a view holds one consistent picture of the group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.domain.errors import UnknownGroup
from chinwag.domain.group import Change
from chinwag.domain.group_log import GroupState, canonical, replay


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group as this client knows it now.

    ``changes``: every change stored (orphans included); ``chain``: the canonical chain;
    ``states``: the state after each change of the chain (``[i]`` is version ``i``);
    ``ever``: everybody who was a member at some version of the chain.
    """

    changes: tuple[Change, ...]
    chain: tuple[Change, ...]
    states: tuple[GroupState, ...]
    ever: frozenset[str]
    hashes: frozenset[bytes] = field(repr=False)
    """The hashes of ``changes``: what a newly learnt change may follow."""

    @property
    def id(self) -> UUID:
        return self.head.id

    @property
    def head(self) -> GroupState:
        """The group as it is now (the state after the chain's last change)."""
        return self.states[-1]

    def extended(self, change: Change, state: GroupState) -> GroupView:
        """This view once ``change`` (which applies on the head, giving ``state``) is stored.

        It becomes the chain's next change: every other known change that follows the head
        does not apply there (the chain would have taken it), and nothing known follows it.
        """
        return GroupView(
            changes=(*self.changes, change),
            chain=(*self.chain, change),
            states=(*self.states, state),
            ever=self.ever | set(state.names),
            hashes=self.hashes | {change.hash()},
        )


Verify = Callable[[bytes, bytes, bytes], bool]


def compute(group: UUID, changes: Iterable[Change], verify: Verify) -> GroupView | None:
    """The view of ``group`` from the changes known; None when none is a valid create."""
    known = {change.hash(): change for change in changes if change.group == group}
    try:
        _, chain = canonical(known.values(), verify, group=group)
    except UnknownGroup:
        return None
    states = replay(chain)
    ever = frozenset(name for state in states for name in state.names)
    return GroupView(tuple(known.values()), tuple(chain), tuple(states), ever, frozenset(known))
