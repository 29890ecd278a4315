"""A group as this client knows it: the changes stored, the canonical chain, the states.

Computed from the changes (:func:`compute`) when a group is loaded, grown when a change arrives
(:mod:`~chinwag.application.groups.growth`), and replaced whole either way, so a reader holding
a view holds one consistent picture of the group.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from chinwag.application.ports.signatures import Signatures
from chinwag.domain.errors import UnknownGroup
from chinwag.domain.group import Change
from chinwag.domain.group_log import GroupState, canonical, replay


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group as this client knows it now.

    ``changes``: every change stored (each was on the chain when it came; a later one may
    have pushed it off, and a log stored before that rule may hold others); ``chain``: the
    canonical chain;
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

    @classmethod
    def started(cls, create: Change, state: GroupState) -> GroupView:
        """The view of a group with only its ``create`` (valid, giving ``state``)."""
        return cls((create,), (create,), (state,), frozenset(state.names), frozenset({state.head}))

    def chain_only(self) -> GroupView:
        """This view holding its chain's changes only (what is stored of a log learnt whole)."""
        return GroupView(
            self.chain, self.chain, self.states, self.ever, frozenset(s.head for s in self.states)
        )

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

MAX_REMEMBERED: Final = 50_000
"""Signature checks of changes remembered (see :class:`RememberedChecks`)."""


class RememberedChecks:
    """The signature check of changes (a :data:`Verify`), each verdict remembered: a group's
    log is judged again whole when it is loaded, and a change may come again from each peer."""

    def __init__(self, signatures: Signatures) -> None:
        self._signatures = signatures
        self._known: OrderedDict[bytes, bool] = OrderedDict()

    def __call__(self, key: bytes, message: bytes, signature: bytes) -> bool:
        digest = hashlib.sha256(
            len(key).to_bytes(2, "big") + key + len(signature).to_bytes(2, "big") + signature
            + message
        ).digest()  # fmt: skip
        known = self._known.get(digest)
        if known is None:
            known = self._signatures.verify(key, message, signature)
            self._known[digest] = known
            if len(self._known) > MAX_REMEMBERED:
                self._known.popitem(last=False)
        return known


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
