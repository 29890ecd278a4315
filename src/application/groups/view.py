"""A group as this client knows it: the changes stored, the canonical chain, the states, and the
valid branches off the chain held in memory.

Computed from the changes (:func:`~chinwag.application.groups.growth.compute`) when a group is
loaded, grown when a change arrives (:mod:`~chinwag.application.groups.growth`), and replaced
whole either way, so a reader holding a view holds one consistent picture of the group.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from chinwag.application.ports.signatures import Signatures
from chinwag.domain.group import Change
from chinwag.domain.group_fork import weight
from chinwag.domain.group_log import GroupState


@dataclass(frozen=True, slots=True)
class Branch:
    """A valid change off the chain, held in memory: the state after it, its weight and its
    reach (:mod:`~chinwag.domain.group_fork`: the most admins' changes on one valid path down
    from it, among the changes held)."""

    change: Change
    state: GroupState
    weight: int
    reach: int


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group as this client knows it now.

    ``changes``: every change stored (each was on the chain when it came, and only those:
    what a peer sends that loses stays in memory; past :data:`MAX_STORED_OFF_CHAIN` of them
    off the chain, those are let go: :meth:`pruned`); ``chain``: the canonical chain;
    ``states``: the state after each change of the chain (``[i]`` is version ``i``);
    ``ever``: everybody who was a member at some version of the chain.
    """

    changes: tuple[Change, ...]
    chain: tuple[Change, ...]
    states: tuple[GroupState, ...]
    ever: frozenset[str]
    hashes: frozenset[bytes] = field(repr=False)
    """The hashes of ``changes`` (stored)."""
    weights: tuple[int, ...] = field(repr=False)
    """``[v]``: the weight of the chain's changes 1 to ``v`` (``[0]`` is 0, for the create)."""
    side: Mapping[bytes, Branch] = field(repr=False)
    """The valid changes off the chain held in memory, by hash, oldest first (bounded: see
    :mod:`~chinwag.application.groups.branches`): a branch that loses now may win once it
    grows. Not stored: should a restart forget one, the chain stays (it outranks it) and a
    peer whose chain it is sends it again."""
    kids: Mapping[bytes, tuple[bytes, ...]] = field(repr=False)
    """The valid changes held (on the chain or off it) that follow each change held."""

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
        return cls(
            changes=(create,),
            chain=(create,),
            states=(state,),
            ever=frozenset(state.names),
            hashes=frozenset({state.head}),
            weights=(0,),
            side={},
            kids={},
        )

    def chain_only(self) -> GroupView:
        """This view with its chain's changes only as stored (what is stored of a log learnt
        whole); its branches stay held in memory."""
        hashes = frozenset(state.head for state in self.states)
        return GroupView(
            self.chain, self.chain, self.states, self.ever, hashes, self.weights, self.side,
            self.kids,
        )  # fmt: skip

    @property
    def off_chain(self) -> int:
        """How many changes stored are off the chain (every change of the chain is stored)."""
        return len(self.changes) - len(self.chain)

    def pruned(self) -> tuple[GroupView, list[bytes]]:
        """This view with only its chain's changes stored (parents first), and the hashes
        of the changes let go: those that were on the chain when they came and are not now.
        They stay held in memory as branches (bounded); a restart computes the same chain
        from what is left, since the chain is all of it."""
        on_chain = frozenset(state.head for state in self.states)
        gone = [digest for digest in self.hashes if digest not in on_chain]
        view = GroupView(
            self.chain,
            self.chain,
            self.states,
            self.ever,
            on_chain,
            self.weights,
            self.side,
            self.kids,
        )
        return view, gone

    def extended(self, change: Change, state: GroupState) -> GroupView:
        """This view once ``change`` (which applies on the head, giving ``state``) is stored.

        It becomes the chain's next change: no valid change held follows the head (it would
        be on the chain), so nothing outranks it, and nothing known follows it.
        """
        digest, head = change.hash(), self.head
        kids = dict(self.kids)
        kids[head.head] = (*kids.get(head.head, ()), digest)
        return GroupView(
            changes=(*self.changes, change),
            chain=(*self.chain, change),
            states=(*self.states, state),
            ever=self.ever | set(state.names),
            hashes=self.hashes | {digest},
            weights=(*self.weights, self.weights[-1] + weight(change, head.admins)),
            side=self.side,
            kids=kids,
        )


Verify = Callable[[bytes, bytes, bytes], bool]

MAX_STORED_OFF_CHAIN: Final = 256
"""Changes stored off a group's chain (each was on it when it came, and lost its place since)
before they are let go (:meth:`GroupView.pruned`). Honest groups hardly get there (a lost
place is an admins' race, or a long fork); a member signing leave after leave on the head,
each winning on its hash, gets there fast: without it, those would fill the log's room and
refuse every later change, and each frame would cost what the log holds."""

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
