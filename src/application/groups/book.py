"""The groups this client knows: every change learnt, the chain every member agrees on, and the
state after each of its changes, kept per group and recomputed only when a change arrives.

The repository keeps every change (orphans included); the domain says which chain they make
(:func:`~chinwag.domain.group_log.canonical`). This module is where the two meet: it stores
what arrives, recomputes, tells the user when a group's head moved (``group_changed``), writes
this user's own changes (signed with the identity key), and writes again a change of this
user's that another admin's concurrent change pushed off the chain, if it still applies there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.application.groups.limits import (
    MAX_CHANGES_PER_GROUP,
    MAX_DECLINED,
    MAX_GROUPS_PER_USER,
    MAX_PENDING_CHANGES,
    MAX_PENDING_GROUPS,
)
from chinwag.application.groups.view import GroupView, compute
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.group_repository import GroupRepository
from chinwag.application.ports.signatures import Signatures
from chinwag.application.session import Session
from chinwag.domain.errors import DomainError, GroupFull, UnknownGroup
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, apply

log = logging.getLogger(__name__)

MAX_VERIFIED = 50_000
"""Signature checks of changes remembered: a recomputation checks the whole log again."""


class TooManyGroups(GroupFull):
    """This user is in as many groups as one user may be (:data:`MAX_GROUPS_PER_USER`)."""


@dataclass(slots=True)
class Taken:
    """What changes from a peer did: the groups whose head moved (their new states), and the
    groups where something arrived that follows a change not known here (ask that peer)."""

    changed: list[GroupState] = field(default_factory=list)
    unconnected: set[UUID] = field(default_factory=set)


OwnChange = Callable[[GroupState | None, GroupView], None]
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
        self._verified: OrderedDict[bytes, bool] = OrderedDict()
        self._pending: OrderedDict[UUID, dict[bytes, Change]] = OrderedDict()
        """Changes of groups not known yet that do not make this user a member (yet)."""
        self._declined: OrderedDict[UUID, None] = OrderedDict()
        self._listeners: list[OwnChange] = []

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
        """Whether this user was added to ``group`` but did not take it (too many groups)."""
        return group in self._declined

    def on_own_change(self, listener: OwnChange) -> None:
        """Call ``listener`` each time one of this user's changes is stored."""
        self._listeners.append(listener)

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
        """Store the changes not known yet (as signed; the rules judge them when the chain is
        recomputed), recompute the groups they belong to and tell the user what moved."""
        taken = Taken()
        me = self._session.user
        if me is None:
            return taken
        by_group: dict[UUID, list[Change]] = {}
        for change in changes:
            by_group.setdefault(change.group, []).append(change)
        for group, batch in by_group.items():
            async with self._lock:
                await self._take_group(me, group, batch, taken)
        return taken

    async def _take_group(self, me: str, group: UUID, batch: list[Change], taken: Taken) -> None:
        before = await self._load(group)
        if before is None:
            await self._take_new_group(me, group, batch, taken)
            return
        room = MAX_CHANGES_PER_GROUP - len(before.changes)
        fresh, loose = self._keepable(before, batch, before.hashes)
        if loose:
            taken.unconnected.add(group)
        if len(fresh) > room:
            log.warning("group %s holds %d changes, the most kept: %d dropped", group,
                        len(before.changes), len(fresh) - room)  # fmt: skip
            fresh = fresh[: max(room, 0)]
        new = await self._groups.add_changes(fresh) if fresh else []
        if not new:
            return
        after = compute(group, (*before.changes, *new), self._verify)
        if after is None:  # cannot happen: the create that made ``before`` is still there
            return
        self._views[group] = after
        if after.head.head != before.head.head:
            taken.changed.append(after.head)
        self._tell(before, after, me)
        await self._write_again(me, before, after)

    async def _take_new_group(
        self, me: str, group: UUID, batch: list[Change], taken: Taken
    ) -> None:
        """Changes of a group not known here: taken once they make this user a member; held
        in memory until then (a log may arrive over several frames), within bounds."""
        if group in self._declined:
            return
        pool = self._pending.pop(group, {})
        for change in batch:
            if len(pool) >= MAX_PENDING_CHANGES:
                log.warning("group %s: more changes than held for a group not known", group)
                break
            pool.setdefault(change.hash(), change)
        view = compute(group, pool.values(), self._verify)
        if view is None or me not in view.ever:
            self._pending[group] = pool
            while len(self._pending) > MAX_PENDING_GROUPS:
                self._pending.popitem(last=False)
            return
        if view.head.is_member(me):
            try:
                await self._check_room(me)
            except TooManyGroups as exc:
                self._declined[group] = None
                while len(self._declined) > MAX_DECLINED:
                    self._declined.popitem(last=False)
                adder = view.chain[-1].author
                self._events.error(
                    exc.code,
                    f"{adder} added you to the group {view.head.name!r}, but you are in "
                    f"{MAX_GROUPS_PER_USER} groups already, the most one user can be in: it was "
                    "not joined (leave a group, then ask to be added again)",
                )
                return
        create = view.chain[0]
        kept, loose = self._keepable(view, pool.values(), frozenset({create.hash()}))
        await self._groups.add_changes([create, *kept])
        self._views[group] = compute(group, [create, *kept], self._verify) or view
        if loose:
            taken.unconnected.add(group)
        taken.changed.append(view.head)
        self._tell(None, view, me)

    def _keepable(
        self, view: GroupView, changes: Iterable[Change], known: frozenset[bytes]
    ) -> tuple[list[Change], bool]:
        """The changes worth storing, parents first, and whether some follow a change not
        known (the peer has more: ask it).

        Worth storing: not known yet, signed by somebody who is a member at some version of
        the chain (with a key the chain gives them), and following a known change (or one of
        these). Anybody who learnt a group's id could otherwise fill its log with changes that
        never apply, and every recomputation would go through them.
        """
        keys: dict[str, set[bytes]] = {}
        for state in view.states:
            for member in state.members:
                keys.setdefault(member.name, set()).add(member.key)
        following: dict[bytes, list[Change]] = {}
        for change in changes:
            if change.kind is ChangeKind.CREATE or change.hash() in known:
                continue
            signed = change.signed_bytes()
            if any(self._verify(k, signed, change.signature) for k in keys.get(change.author, ())):
                following.setdefault(change.prev, []).append(change)
        kept: list[Change] = []
        parents = deque(digest for digest in following if digest in known)
        while parents:
            for change in following.pop(parents.popleft(), ()):
                kept.append(change)
                parents.append(change.hash())
        return kept, bool(following)

    async def _write_again(self, me: str, before: GroupView, after: GroupView) -> None:
        """This user's changes that were on the chain and are not any more (another admin's
        concurrent change won): each written again on top of the new head if it still applies
        there (an ``add`` of somebody added meanwhile does not), in their order."""
        on_chain = {change.hash() for change in after.chain}
        displaced = [
            c
            for c in before.chain
            if c.author == me and c.kind is not ChangeKind.CREATE and c.hash() not in on_chain
        ]
        view = after
        for old in displaced:
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

    def _own(self, before: GroupState | None, after: GroupView) -> None:
        for listener in self._listeners:
            try:
                listener(before, after)
            except Exception:
                log.exception("a listener of group changes failed")

    def _verify(self, key: bytes, message: bytes, signature: bytes) -> bool:
        """The signature check, remembered: each recomputation checks the whole log again."""
        digest = hashlib.sha256(
            len(key).to_bytes(2, "big") + key + len(signature).to_bytes(2, "big") + signature
            + message
        ).digest()  # fmt: skip
        known = self._verified.get(digest)
        if known is None:
            known = self._signatures.verify(key, message, signature)
            self._verified[digest] = known
            if len(self._verified) > MAX_VERIFIED:
                self._verified.popitem(last=False)
        return known
