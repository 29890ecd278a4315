"""The tree of a group's valid changes as one growth changes it: new changes hung off it, the
chain moved to a branch that now outranks it, branches past the bound let go.

The chain is the domain's (:mod:`~chinwag.domain.group_fork`): from the create, the valid change
whose branch reaches the most admins' changes, the smallest hash among equals. A view holds the
chain and, in memory, the valid changes off it (:class:`~.view.Branch`, each with its reach),
because a branch that loses now may win once it grows. Between two growths every branch off a
chain change ranks after the chain's next change there. A growth only adds changes, so reaches
only grow: the chain can move only where a branch's reach grew, and the first such place from
the create is where it moves (above it nothing changed for the chain's worse). Below that
place it follows the best branch down. Cost: what arrived, the branch it climbs through, and
the part of the chain that moves; no signature is checked here.

Letting go (:meth:`Tree.evict`, past :data:`MAX_BRANCHES`): the branches reaching least go
first, and of those the oldest, each with what follows it. A branch reaching 0 holds only
leaves of members who are no admins: what a member can pile up costs the group nothing kept.
A branch let go is only forgotten, not judged: should it come again with more (a peer's chain
does, whole), it is taken again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from chinwag.application.groups.view import Branch, GroupView
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_fork import rank
from chinwag.domain.group_log import GroupState

MAX_BRANCHES: Final = 256
"""Valid changes off a group's chain held in memory (per group, known or pending): far more
than admins' concurrent changes ever make; past it, members' leaves are let go first."""

Grown = dict[bytes, tuple[Change, GroupState, int]]
"""New valid changes by hash, parents first: each with the state after it and its weight."""


class Tree:
    """A view's chain and branches, changed in place by one growth; the view it started from is
    left as it was (:meth:`view` makes the new one)."""

    def __init__(self, view: GroupView) -> None:
        self._view = view
        self.chain, self.states, self.weights = view.chain, view.states, view.weights
        self.at = {state.head: version for version, state in enumerate(view.states)}
        """The chain's changes by hash: their version."""
        self.side = dict(view.side)
        self.kids = dict(view.kids)
        self._from: int | None = None
        """The version the chain moved below (None: it did not)."""

    def holds(self, digest: bytes) -> bool:
        return digest in self.at or digest in self.side

    def state(self, digest: bytes) -> GroupState:
        """The state after the held change ``digest``."""
        version = self.at.get(digest)
        return self.states[version] if version is not None else self.side[digest].state

    def attach(self, grown: Grown) -> set[int]:
        """Hang the new changes off the tree, as branches; the versions of the chain's changes
        below which a branch's reach grew (where the chain may move)."""
        for digest, (change, _, _) in grown.items():
            self.kids[change.prev] = (*self.kids.get(change.prev, ()), digest)
        reach: dict[bytes, int] = {}
        for digest in reversed(grown):  # children first
            below = max((reach[kid] for kid in self.kids.get(digest, ())), default=0)
            reach[digest] = grown[digest][2] + below
        touched: set[int] = set()
        for digest, (change, state, weight) in grown.items():
            self.side[digest] = Branch(change, state, weight, reach[digest])
            if change.prev not in grown:
                self._lift(change.prev, reach[digest], touched)
        return touched

    def move(self, touched: set[int]) -> list[Change]:
        """Move the chain to the branch that now outranks it, if one does (see the module's
        text); the changes that came onto the chain, parents first."""
        last = len(self.states) - 1
        total = self.weights[-1]  # of the chain as it would be, below the places seen so far
        moved: tuple[int, bytes] | None = None
        for version in sorted(touched, reverse=True):  # what grows below grows the chain above
            best = self._best(self.states[version].head)
            if best is None:
                continue
            reach = self.side[best].reach
            if version < last:
                ours = rank(total - self.weights[version], self.states[version + 1].head)
                if rank(reach, best) > ours:
                    continue
            moved, total = (version, best), self.weights[version] + reach
        return [] if moved is None else self._switch(*moved)

    def evict(self, cap: int) -> None:
        """Let branches go until at most ``cap`` are held (see the module's text)."""
        if len(self.side) <= cap:
            return
        order = sorted(enumerate(self.side), key=lambda pair: (self.side[pair[1]].reach, pair[0]))
        for _, digest in order:
            if len(self.side) <= cap:
                return
            if digest in self.side:
                self._cut(digest)

    def view(self, kept: list[Change]) -> GroupView:
        """The view with this tree, ``kept`` newly stored."""
        view = self._view
        if self._from is None:
            ever = view.ever
        elif self._from == len(view.states) - 1:  # the chain only grew
            ever = view.ever | {name for s in self.states[self._from + 1 :] for name in s.names}
        else:  # members only come in by the create or an add
            ever = frozenset(self.states[0].names) | {
                c.member for c in self.chain if c.kind is ChangeKind.ADD and c.member is not None
            }
        return GroupView(
            changes=(*view.changes, *kept),
            chain=self.chain,
            states=self.states,
            ever=ever,
            hashes=view.hashes | {change.hash() for change in kept},
            weights=self.weights,
            side=self.side,
            kids=self.kids,
        )

    # --- inside ------------------------------------------------------------------------------

    def _lift(self, digest: bytes, below: int, touched: set[int]) -> None:
        """A branch under the held change ``digest`` now reaches ``below``: raise the reaches
        above it as far as they grow; the chain's change it hangs from is touched."""
        while digest not in self.at:
            branch = self.side[digest]
            if branch.weight + below <= branch.reach:
                return
            self.side[digest] = replace(branch, reach=branch.weight + below)
            digest, below = branch.change.prev, branch.weight + below
        touched.add(self.at[digest])

    def _held_kids(self, digest: bytes) -> list[bytes]:
        """The branches following ``digest`` (the chain's next change is not one)."""
        return [kid for kid in self.kids.get(digest, ()) if kid in self.side]

    def _best(self, digest: bytes) -> bytes | None:
        """The best branch following ``digest``."""
        kids = self._held_kids(digest)
        return min(kids, key=lambda kid: rank(self.side[kid].reach, kid), default=None)

    def _switch(self, version: int, first: bytes) -> list[Change]:
        path = [first]
        while (best := self._best(path[-1])) is not None:
            path.append(best)
        for old in reversed(range(version + 1, len(self.states))):  # the rest: a branch
            state = self.states[old]
            weight = self.weights[old] - self.weights[old - 1]
            below = max((self.side[kid].reach for kid in self._held_kids(state.head)), default=0)
            self.side[state.head] = Branch(self.chain[old], state, weight, weight + below)
            del self.at[state.head]
        branches = [self.side.pop(digest) for digest in path]
        weights = list(self.weights[: version + 1])
        for offset, branch in enumerate(branches):
            weights.append(weights[-1] + branch.weight)
            self.at[branch.state.head] = version + 1 + offset
        self.chain = (*self.chain[: version + 1], *(b.change for b in branches))
        self.states = (*self.states[: version + 1], *(b.state for b in branches))
        self.weights = tuple(weights)
        self._from = version if self._from is None else min(self._from, version)
        return [branch.change for branch in branches]

    def _cut(self, digest: bytes) -> None:
        """Let the branch ``digest`` go, with what follows it; lower the reaches above."""
        parent = self.side[digest].change.prev
        gone = [digest]
        while gone:
            held = gone.pop()
            del self.side[held]
            gone.extend(self.kids.pop(held, ()))
        left = tuple(kid for kid in self.kids[parent] if kid != digest)
        if left:
            self.kids[parent] = left
        else:
            del self.kids[parent]
        while parent in self.side:
            branch = self.side[parent]
            below = max((self.side[kid].reach for kid in self.kids.get(parent, ())), default=0)
            if branch.weight + below == branch.reach:
                return
            self.side[parent] = replace(branch, reach=branch.weight + below)
            parent = branch.change.prev
