"""The groups this client knows: the chain every member agrees on and the state after each of
its changes, kept per group, grown when a change arrives.

The repository keeps the changes that were on a group's chain when they came; the domain says
which chain they make (:func:`~chinwag.domain.group_log.canonical`). This module is where the
two meet: it grows a chain with what arrives (:mod:`~chinwag.application.groups.growth`:
storing what comes onto the chain, holding valid branches off it in memory), holds the logs of
groups not known yet (:mod:`~chinwag.application.groups.pending`), tells the user when a
group's head moved (``group_changed``), writes this user's own changes (signed with the
identity key), and writes again a change of this user's that a branch outranking it pushed off
the chain (another admin's concurrent change, or a longer history), if it still applies there.
It joins a group only if the log gives this user their own key.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.application.groups.growth import Settled, compute, grow
from chinwag.application.groups.joining import Joining, TooManyGroups
from chinwag.application.groups.limits import (
    MAX_CHANGES_PER_GROUP,
    MAX_GROUPS_PER_USER,
    MAX_SETTLED,
)
from chinwag.application.groups.pending import PendingGroups
from chinwag.application.groups.view import MAX_STORED_OFF_CHAIN, GroupView, RememberedChecks
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.group_repository import GroupRepository
from chinwag.application.ports.signatures import Signatures
from chinwag.application.session import Session
from chinwag.domain.errors import DomainError, UnknownGroup
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, apply

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Taken:
    """What changes from a peer did: the groups whose head moved (their new states), and the
    groups where something arrived that follows a change not known here (ask that peer)."""

    changed: list[GroupState] = field(default_factory=list)
    unconnected: set[UUID] = field(default_factory=set)


OwnChange = Callable[[GroupState | None, GroupView], None]
ChainChange = Callable[[GroupView | None, GroupView], None]
"""Told ``(state before, view after)`` when this user's own change is stored (to push it)."""


class GroupBook:
    """The groups known, their chains and states, cached; the only writer of group changes."""

    def __init__(
        self,
        session: Session,
        groups: GroupRepository,
        signatures: Signatures,
        events: ChatEvents,
        clock: Clock,
        own_key: bytes,
    ) -> None:
        self._session = session
        self._groups = groups
        self._signatures = signatures
        self._events = events
        self._clock = clock
        self._own_key = own_key
        self._views: dict[UUID, GroupView] = {}
        self._lock = asyncio.Lock()
        """One writer at a time (changes are rare): a recomputation never races a load."""
        self._verify = RememberedChecks(signatures)
        self._settled = Settled(MAX_SETTLED)
        """Changes judged and dropped lately: what follows them is not asked for."""
        self._pending = PendingGroups(self._verify, self._settled)
        """The logs of groups not known yet that do not make this user a member (yet)."""
        self._joining = Joining(events, own_key, self._check_room)
        self._listeners: list[OwnChange] = []
        self._watchers: list[ChainChange] = []

    # --- reading ---------------------------------------------------------------------------

    async def view(self, group: UUID) -> GroupView | None:
        """``group`` as known here, or None if no valid create of it is stored."""
        view = self._views.get(group)
        if view is not None:
            return view
        async with self._lock:
            return await self._load(group)

    async def get(self, group: UUID) -> tuple[GroupState, bool]:
        """``group``'s state and whether this user left it (or was removed);
        :class:`UnknownGroup` if this user was never in it."""
        me = self._session.require_user()
        view = await self.view(group)
        if view is None or me not in view.ever:
            raise UnknownGroup(f"you are not in a group with id {group}")
        return view.head, not view.head.is_member(me)

    async def mine(self) -> list[tuple[GroupState, bool]]:
        """Every group this user is in, and those they left or were removed from (``True``),
        in the order they were first learnt."""
        me = self._session.require_user()
        found: list[tuple[GroupState, bool]] = []
        for group in await self._groups.groups():
            view = await self.view(group)
            if view is not None and me in view.ever:
                found.append((view.head, not view.head.is_member(me)))
        return found

    def declined(self, group: UUID) -> bool:
        """Whether this user was added to ``group`` but did not take it (a key that is not
        theirs, or too many groups): see :class:`~chinwag.application.groups.joining.Joining`."""
        return self._joining.declined(group)

    @property
    def own_key(self) -> bytes:
        """This user's identity key (what the logs must give them)."""
        return self._own_key

    def on_own_change(self, listener: OwnChange) -> None:
        """Call ``listener`` each time one of this user's changes is stored."""
        self._listeners.append(listener)

    def on_chain_change(self, listener: ChainChange) -> None:
        """Call ``listener`` each time a group's head moves, whoever's change moved it (with
        the view before, None for a group new here, and after)."""
        self._watchers.append(listener)

    # --- this user's changes -----------------------------------------------------------------

    async def create(self, name: str, members: Mapping[str, bytes]) -> GroupState:
        """Create a group named ``name`` with ``members`` (name -> identity key, in order);
        this user is its creator and admin. :class:`TooManyGroups`, :class:`GroupFull`."""
        me = self._session.require_user()
        draft = Change.create(
            author=me, key=self._own_key, name=name, members=members, at=self._clock.now()
        )
        change = draft.signed(self._signatures.sign(draft.signed_bytes()))
        async with self._lock:
            await self._check_room(me)
            view = compute(change.group, [change], self._verify)
            if view is None:  # our own signature does not verify: a broken key, not the user
                raise RuntimeError("this client's signature of its own group does not verify")
            await self._groups.add_changes([change])
            self._views[view.id] = view
        self._tell(None, view, me)
        self._own(None, view)
        return view.head

    async def change(
        self,
        group: UUID,
        kind: ChangeKind,
        *,
        member: str | None = None,
        key: bytes | None = None,
        name: str | None = None,
        upto: int | None = None,
    ) -> GroupState:
        """Write this user's change of ``kind`` on top of ``group``'s head; the new state.

        The domain's rules decide (``NotAMember``, ``NotAnAdmin``, ``GroupFull``,
        ``InvalidChange``), after the caller's own checks with friendlier words.
        """
        me = self._session.require_user()
        async with self._lock:
            before = await self._load(group)
            if before is None or me not in before.ever:
                raise UnknownGroup(f"you are not in a group with id {group}")
            after = self._write(me, before, kind, member=member, key=key, name=name, upto=upto)
            await self._groups.add_changes([after.chain[-1]])
            self._views[group] = after
        self._tell(before, after, me)
        self._own(before.head, after)
        return after.head

    def _write(
        self,
        me: str,
        view: GroupView,
        kind: ChangeKind,
        *,
        member: str | None,
        key: bytes | None,
        name: str | None,
        upto: int | None = None,
    ) -> GroupView:
        """The view once this user's change is on top of ``view``'s head (not stored yet)."""
        head = view.head
        draft = Change(
            group=head.id,
            kind=kind,
            version=head.version + 1,
            prev=head.head,
            author=me,
            at=self._clock.now(),
            member=member,
            key=key,
            name=name,
            upto=upto,
        )
        change = draft.signed(self._signatures.sign(draft.signed_bytes()))
        return view.extended(change, apply(head, change, self._verify))

    # --- changes from peers ------------------------------------------------------------------

    async def take(self, changes: Sequence[Change]) -> Taken:
        """Take the changes from a peer: those that come onto a group's chain are stored, the
        valid ones off it held in memory, the others not kept (see
        :mod:`~chinwag.application.groups.growth`); and tell the user what moved."""
        taken = Taken()
        me = self._session.user
        if me is None:
            return taken
        by_group: dict[UUID, list[Change]] = {}
        for change in changes:
            by_group.setdefault(change.group, []).append(change)
        for group, batch in by_group.items():
            async with self._lock:
                before = await self._load(group)
                if before is None:
                    await self._take_new_group(me, group, batch, taken)
                else:
                    await self._take_group(me, before, batch, taken)
        return taken

    async def _take_group(
        self, me: str, before: GroupView, batch: list[Change], taken: Taken
    ) -> None:
        group = before.id
        # The room is the chain's: changes stored off it are let go (below), so what a member
        # piles up off the chain never refuses an admin's change.
        room = MAX_CHANGES_PER_GROUP - len(before.chain)
        growth = grow(before, batch, self._verify, room=room, settled=self._settled)
        self._settled.update(growth.dropped)
        if growth.loose:
            taken.unconnected.add(group)
        if growth.cut:
            log.warning("group %s has %d changes on its chain, the most kept: %d not taken",
                        group, len(before.chain), growth.cut)  # fmt: skip
        if growth.view is before:
            return
        if growth.kept:
            await self._groups.add_changes(growth.kept)
        after = self._views[group] = await self._pruned(growth.view)
        if after.head.head == before.head.head:
            return  # only branches off the chain grew
        taken.changed.append(after.head)
        self._tell(before, after, me)
        self._joining.check_own_key(me, before, after)
        await self._write_again(me, before, after)

    async def _take_new_group(
        self, me: str, group: UUID, batch: list[Change], taken: Taken
    ) -> None:
        """Changes of a group not known here: taken once they make this user a member; held
        (bounded: :class:`~chinwag.application.groups.pending.PendingGroups`) until then."""
        if self._joining.declined(group):
            return
        view, loose = self._pending.feed(group, batch)
        if loose:
            taken.unconnected.add(group)
        if view is None or me not in view.ever:
            return
        self._pending.drop(group)
        if view.head.is_member(me) and not await self._joining.may_join(me, view):
            return
        view = view.chain_only()
        await self._groups.add_changes(view.chain)
        self._views[group] = view
        taken.changed.append(view.head)
        self._tell(None, view, me)
        await self._take_group(me, view, batch, taken)  # what the pending bound left out

    async def _write_again(self, me: str, before: GroupView, after: GroupView) -> None:
        """This user's changes that were on the chain and are not any more (another admin's
        concurrent change won, or a branch holding more admins' changes): each written again on
        top of the new head if it still applies there (an ``add`` of somebody added meanwhile
        does not, nor a ``leave`` of a member gone already, nor a ``remove`` of somebody removed
        meanwhile), in their order.

        Not one whose twin (the same kind and fields, by this user) the new chain holds past the
        fork (one for one): a branch can win back (when it grows), and then what was displaced
        is the copy written again, whose original is back; writing it once more could undo
        what came after (a rename back to an old name)."""
        common = min(len(before.states), len(after.states))
        fork = next(
            (v for v in range(common) if before.states[v].head != after.states[v].head), common
        )
        twins = Counter(_gist(c) for c in after.chain[fork:] if c.author == me)
        displaced = []
        for c in before.chain[fork:]:
            if c.author != me or c.kind is ChangeKind.CREATE:
                continue
            if twins[_gist(c)] > 0:  # one twin for one change
                twins[_gist(c)] -= 1
            else:
                displaced.append(c)
        view = after
        for old in displaced:
            if old.kind is ChangeKind.REMOVE and not view.head.is_member(old.member or ""):
                # Removed meanwhile by another admin: a cut written now would only move the
                # version (and might lower the winner's cut).
                log.info("remove of %s in group %s not written again: gone already", old.member,
                         old.group)  # fmt: skip
                continue
            try:
                again = self._write(
                    me, view, old.kind, member=old.member, key=old.key, name=old.name, upto=old.upto
                )
            except DomainError as exc:
                log.info("%s of group %s not written again: %s", old.kind, old.group, exc)
                continue
            await self._groups.add_changes([again.chain[-1]])
            self._views[again.id] = again
            self._tell(view, again, me)
            self._own(view.head, again)
            view = again

    # --- inside ------------------------------------------------------------------------------

    async def _load(self, group: UUID) -> GroupView | None:
        """The cached view, or computed from the repository (the caller holds the lock)."""
        view = self._views.get(group)
        if view is None:
            view = compute(group, await self._groups.changes(group), self._verify)
            if view is not None:
                self._views[group] = view
        return view

    async def _pruned(self, view: GroupView) -> GroupView:
        """``view``, with the changes stored off its chain let go once there are more than
        :data:`~.view.MAX_STORED_OFF_CHAIN` (the caller holds the lock)."""
        if view.off_chain <= MAX_STORED_OFF_CHAIN:
            return view
        pruned, gone = view.pruned()
        await self._groups.remove_changes(view.id, gone)
        log.info("group %s: %d changes stored off the chain let go", view.id, len(gone))
        return pruned

    async def _check_room(self, me: str) -> None:
        """:class:`TooManyGroups` if ``me`` is in :data:`MAX_GROUPS_PER_USER` groups already
        (the caller holds the lock)."""
        count = 0
        for group in await self._groups.groups():
            view = await self._load(group)
            if view is not None and view.head.is_member(me):
                count += 1
        if count >= MAX_GROUPS_PER_USER:
            raise TooManyGroups(
                f"you are in {count} groups, the most one user can be in "
                f"({MAX_GROUPS_PER_USER}): leave one first"
            )

    def _tell(self, before: GroupView | None, after: GroupView, me: str) -> None:
        """``group_changed`` when the head moved in a group this user is or was in."""
        if before is not None and before.head.head == after.head.head:
            return
        if me in after.ever or (before is not None and me in before.ever):
            self._events.group_changed(after.head, not after.head.is_member(me))
        for watcher in self._watchers:
            try:
                watcher(before, after)
            except Exception:
                log.exception("a watcher of group chains failed")

    def _own(self, before: GroupState | None, after: GroupView) -> None:
        for listener in self._listeners:
            try:
                listener(before, after)
            except Exception:
                log.exception("a listener of group changes failed")


def _gist(change: Change) -> tuple[object, ...]:
    """What a change does, whatever its place in the log and its time."""
    return change.kind, change.member, change.key, change.name
