"""How a group's chain grows with changes from a peer, in time proportional to what arrived.

The canonical chain (:func:`~chinwag.domain.group_log.canonical`) takes, from the create on,
the valid child with the smallest hash. So a change that is not on the chain now never will
be: its place was taken by a valid sibling with a smaller hash (or it is not valid there), and
the set of changes only grows. Only a new change that is valid on a chain node, and smaller
than the chain's change after that node (or after the head), moves the chain; its new
descendants follow. Everything else can be dropped without changing what any member computes,
and so it is: a change is kept (stored) only if it ends up on the chain. Nobody, member or
not, can fill a log with changes that never apply, and the log of a group is its chain's
history, not every attempt at it.

The new changes are checked in parent order against the state of their parent (a chain node's,
or another new change's), so a change by a member added in the same batch counts. Each is
checked once; nothing already known is checked again.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from chinwag.application.groups.view import GroupView, Verify
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, apply


@dataclass(frozen=True, slots=True)
class Growth:
    """What new changes did to a view: the view now, the changes to store (parents first,
    every one on the new chain), whether some follow a change not known here (the peer has
    more: ask it), how many that would be on the chain were left out for ``room``, and the
    hashes of the changes judged and not kept (never on the chain: what follows them need not
    be asked for)."""

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
) -> Growth:
    """``view`` with the ``changes`` that move its chain (at most ``room`` of them stored).
    ``settled``: hashes of changes dropped before (:attr:`Growth.dropped`), so that a change
    following one of them is not taken for one following a change not known."""
    grown, dropped, loose = _valid(view, changes, verify, settled)
    growth = _chosen(view, grown, room)
    if not growth.cut:  # (those left out for room would be on it)
        dropped.update(digest for digest in grown if digest not in growth.view.hashes)
    return Growth(growth.view, growth.kept, loose, growth.cut, dropped)


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


def _chosen(view: GroupView, grown: dict[bytes, tuple[Change, GroupState]], room: int) -> Growth:
    """``view`` with the chain the valid new changes ``grown`` make (see the module's text)."""
    if not grown:
        return Growth(view)
    children: dict[bytes, list[bytes]] = {}
    for digest, (change, _) in grown.items():
        children.setdefault(change.prev, []).append(digest)
    position = {state.head: state.version for state in view.states}
    switch: tuple[int, bytes] | None = None
    for parent, digests in children.items():
        at = position.get(parent)
        if at is None:
            continue  # follows a new change: reached from its parent below
        best = min(digests)
        beats = at + 1 == len(view.states) or best < view.states[at + 1].head
        if beats and (switch is None or at < switch[0]):
            switch = (at, best)
    if switch is None:
        return Growth(view)
    at, digest = switch
    path: list[tuple[Change, GroupState]] = []
    while True:
        path.append(grown[digest])
        following = children.get(digest)
        if not following:
            break
        digest = min(following)
    cut = max(len(path) - max(room, 0), 0)
    path = path[: len(path) - cut]
    if not path:
        return Growth(view, cut=cut)
    kept = [change for change, _ in path]
    chain = (*view.chain[: at + 1], *kept)
    states = (*view.states[: at + 1], *(state for _, state in path))
    if at + 1 == len(view.states):
        ever = view.ever | {name for _, state in path for name in state.names}
    else:  # members only come in by the create or an add
        ever = frozenset(states[0].names) | {
            c.member for c in chain if c.kind is ChangeKind.ADD and c.member is not None
        }
    after = GroupView(
        changes=(*view.changes, *kept),
        chain=chain,
        states=states,
        ever=ever,
        hashes=view.hashes | {state.head for _, state in path},
    )
    return Growth(after, kept, cut=cut)


def _valid(
    view: GroupView, changes: Iterable[Change], verify: Verify, settled: Container[bytes]
) -> tuple[dict[bytes, tuple[Change, GroupState]], set[bytes], bool]:
    """The new changes that hang from the chain through valid changes only, each with its
    state, by hash; those that never will (not valid where they are, or following a change
    that is not on the chain and never will be); and whether some follow a change not known
    here at all."""
    following: dict[bytes, list[tuple[bytes, Change]]] = {}
    seen: set[bytes] = set()
    for change in changes:
        if change.group != view.id or change.kind is ChangeKind.CREATE:
            continue  # a known group's create is its own: another cannot have its id
        digest = change.hash()
        if digest in view.hashes or digest in seen:
            continue
        seen.add(digest)
        following.setdefault(change.prev, []).append((digest, change))
    nodes = {state.head: state for state in view.states}
    grown: dict[bytes, tuple[Change, GroupState]] = {}
    dropped: set[bytes] = set()
    parents = deque(digest for digest in following if digest in nodes)
    while parents:
        parent = parents.popleft()
        base = nodes[parent] if parent in nodes else grown[parent][1]
        for digest, change in following.pop(parent):
            try:
                state = apply(base, change, verify)
            except DomainError:
                dropped.add(digest)  # not valid there: its descendants go with it
                continue
            grown[digest] = (change, state)
            if digest in following:
                parents.append(digest)
    # Left: those following a change that is known and never on the chain (stored off it,
    # dropped before or just now), and those following a change not known at all.
    doomed = deque(p for p in following if p in view.hashes or p in dropped or p in settled)
    while doomed:
        for digest, _ in following.pop(doomed.popleft(), ()):
            dropped.add(digest)
            doomed.append(digest)
    return grown, dropped, bool(following)
