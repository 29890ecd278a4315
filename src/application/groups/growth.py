"""How a group's chain grows with changes from a peer, in time proportional to what arrived.

The canonical chain (:func:`~chinwag.domain.group_log.canonical`) takes, from the create on,
the valid change whose branch reaches the most admins' changes (the smallest hash among
equals: :mod:`~chinwag.domain.group_fork`). So a valid change that loses its place now may win
it later, when what follows it arrives: valid changes off the chain are held, in memory and
bounded (:mod:`~chinwag.application.groups.branches`), and the chain moves to a branch as soon
as it outranks it. What is *stored* is what was on the chain when it came, as before: the rest
costs no storage, and nobody, member or not, can fill a log with changes that never apply.
The room given (``room``) is the chain's: a member's leaves, each winning the head on its hash
in turn, are stored one by one, and the book lets those off the chain go past a bound
(:meth:`~.view.GroupView.pruned`), so they never take an admin's room.
With nothing let go, the chain grown is the one the domain computes over every change learnt;
and whatever was let go, the one it computes over the changes stored (what a restart loads).

The new changes are checked in parent order against the state of their parent (a held
change's, or another new change's), so a change by a member added in the same batch counts.
Each is checked once; nothing held is checked again. A change not valid where it is never will
be, nor anything that follows it: those are dropped (:attr:`Growth.dropped`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Container, Iterable
from dataclasses import dataclass, field, replace
from uuid import UUID

from chinwag.application.groups.branches import MAX_BRANCHES, Grown, Tree
from chinwag.application.groups.view import GroupView, Verify
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_fork import weight
from chinwag.domain.group_log import GroupState, apply, genesis


@dataclass(frozen=True, slots=True)
class Growth:
    """What new changes did to a view: the view now, the changes to store (parents first,
    every one on the new chain), whether some follow a change not held here (the peer has
    more: ask it), how many would have been stored but for ``room`` (then none was taken),
    and the hashes of the changes judged never valid (what follows them need not be asked
    for)."""

    view: GroupView
    kept: list[Change] = field(default_factory=list)
    loose: bool = False
    cut: int = 0
    dropped: set[bytes] = field(default_factory=set)


def grow(
    view: GroupView,
    changes: Iterable[Change],
    verify: Verify,
    *,
    room: int,
    settled: Container[bytes] = frozenset(),
    cap: int = MAX_BRANCHES,
) -> Growth:
    """``view`` with the valid ``changes``: held, the chain moved if a branch now outranks it,
    at most ``cap`` branches held. If more than ``room`` changes would be stored, none is
    taken (:attr:`Growth.cut`): the view stays as it was, whole. ``settled``: hashes of
    changes dropped before (:attr:`Growth.dropped`), so that a change following one of them
    is not taken for one following a change not known."""
    tree = Tree(view)
    grown, dropped, loose = _valid(tree, view.id, changes, verify, settled)
    if not grown:
        return Growth(view, loose=loose, dropped=dropped)
    moved = tree.move(tree.attach(grown))
    kept = [change for change in moved if change.hash() not in view.hashes]
    if len(kept) > max(room, 0):
        return Growth(view, loose=loose, cut=len(kept), dropped=dropped)
    tree.evict(cap)
    return Growth(tree.view(kept), kept, loose, 0, dropped)


def compute(group: UUID, changes: Iterable[Change], verify: Verify) -> GroupView | None:
    """The view of ``group`` from the changes stored; None when none is a valid create.

    The genesis is the valid create with the smallest hash, and the rest grows from it in one
    go: the chain is the domain's canonical chain over ``changes``.
    """
    known = {change.hash(): change for change in changes if change.group == group}
    for _, create in sorted((h, c) for h, c in known.items() if c.kind is ChangeKind.CREATE):
        try:
            state = genesis(create, verify)
        except DomainError:
            continue
        started = GroupView.started(create, state)
        view = grow(started, known.values(), verify, room=len(known)).view
        return replace(view, changes=tuple(known.values()), hashes=frozenset(known))
    return None


class Settled:
    """The hashes of the latest changes dropped (:attr:`Growth.dropped`), at most ``size``:
    the ``settled`` of :func:`grow`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._hashes: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, digest: object) -> bool:
        return digest in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def update(self, hashes: Iterable[bytes]) -> None:
        for digest in hashes:
            self._hashes[digest] = None
            self._hashes.move_to_end(digest)
        while len(self._hashes) > self._size:
            self._hashes.popitem(last=False)


def _valid(
    tree: Tree, group: UUID, changes: Iterable[Change], verify: Verify, settled: Container[bytes]
) -> tuple[Grown, set[bytes], bool]:
    """The new changes that hang from the held ones through valid changes only, each with its
    state and weight, parents first; those that never will (not valid where they are, or
    following one that is not, now or before); and whether some follow a change not held here
    at all (not known, or let go)."""
    following: dict[bytes, list[tuple[bytes, Change]]] = {}
    seen: set[bytes] = set()
    for change in changes:
        if change.group != group or change.kind is ChangeKind.CREATE:
            continue  # a known group's create is its own: another cannot have its id
        digest = change.hash()
        if tree.holds(digest) or digest in seen:
            continue
        seen.add(digest)
        following.setdefault(change.prev, []).append((digest, change))
    grown: Grown = {}
    dropped: set[bytes] = set()
    parents = deque(digest for digest in following if tree.holds(digest))
    while parents:
        parent = parents.popleft()
        base: GroupState = grown[parent][1] if parent in grown else tree.state(parent)
        for digest, change in following.pop(parent):
            try:
                state = apply(base, change, verify)
            except DomainError:
                dropped.add(digest)  # not valid there: its descendants go with it
                continue
            grown[digest] = (change, state, weight(change, base.admins))
            if digest in following:
                parents.append(digest)
    # Left: those following a change never valid (judged now or before), and those following
    # a change not held here.
    doomed = deque(p for p in following if p in dropped or p in settled)
    while doomed:
        for digest, _ in following.pop(doomed.popleft(), ()):
            dropped.add(digest)
            doomed.append(digest)
    return grown, dropped, bool(following)
