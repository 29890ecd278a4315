"""Groups: create one, change its membership, leave it, list them.

Every change is signed by this user and written on top of the group's state as known here;
the domain's rules have the last word (another admin's change may have arrived meanwhile),
but the common refusals are checked first, with words that name the group. The new state is
returned at once; the change goes to the members in the background (``GroupSync``), and the
user is told through ``group_changed`` as for changes that arrive.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from uuid import UUID

from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.keys import MemberKeys
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.session import Session
from chinwag.domain.errors import GroupFull, InvalidChange, NotAMember, NotAnAdmin
from chinwag.domain.group import (
    MAX_ADMINS,
    MAX_MEMBERS,
    Change,
    ChangeKind,
    validate_group_name,
)
from chinwag.domain.group_log import GroupState
from chinwag.domain.user import normalize_username


class Groups:
    """The group use cases (one object: they share their checks)."""

    def __init__(
        self, session: Session, book: GroupBook, keys: MemberKeys, progress: GroupProgress
    ) -> None:
        self._progress = progress
        self._session = session
        self._book = book
        self._keys = keys

    async def create(self, name: str, members: Sequence[str]) -> GroupState:
        """A new group named ``name`` with this user (its admin) and ``members`` (each once;
        this user's own name is ignored among them). Raises ``InvalidGroupName``,
        ``InvalidUsername``, ``GroupFull`` (more than the members a group may have, or this user
        in too many groups), or why a member's key cannot be had (``UserOffline``,
        ``UnknownUser``, ``RegistryUnavailable``, ``IdentityChanged``); nothing is created then.
        """
        me = self._session.require_user()
        title = validate_group_name(name)
        names: list[str] = []
        for raw in members:
            member = normalize_username(raw)
            if member != me and member not in names:
                names.append(member)
        if len(names) + 1 > MAX_MEMBERS:
            raise GroupFull(
                f"a group has at most {MAX_MEMBERS} members, you included; this one would "
                f"have {len(names) + 1}"
            )
        keys = {member: await self._keys.key_for(member) for member in names}
        return await self._book.create(title, keys)

    async def add(self, group: UUID, member: str) -> GroupState:
        """Add ``member`` (an admin's change); their key is the one this user holds for them."""
        me = self._session.require_user()
        name = normalize_username(member)
        state = await self._admin_state(group, me, "add members")
        if state.is_member(name):
            raise InvalidChange(f"{name} is a member of {state.name!r} already")
        if len(state.members) >= MAX_MEMBERS:
            raise GroupFull(f"{state.name!r} is full: a group has at most {MAX_MEMBERS} members")
        key = await self._keys.key_for(name)
        return await self._book.change(group, ChangeKind.ADD, member=name, key=key)

    async def remove(self, group: UUID, member: str) -> GroupState:
        """Remove ``member`` (an admin's change): they get nothing sent from then on.

        A former member (one who left, or was removed) is cut instead: the same change, which
        leaves the members as they are, so that their messages past the last one stored here
        do not count whatever ``upto`` their own leave claimed. ``NotAMember`` for a name
        never in the group."""
        me = self._session.require_user()
        name = normalize_username(member)
        state = await self._admin_state(group, me, "remove members")
        if name == me:
            raise InvalidChange("you cannot remove yourself from a group: leave it instead")
        if not state.is_member(name):
            view = await self._book.view(group)
            if view is None or name not in view.ever:
                _require_member(state, name)
        # Their messages numbered past the last one stored here do not count, for anyone.
        upto = await self._progress.last(group, name)
        return await self._book.change(group, ChangeKind.REMOVE, member=name, upto=upto)

    async def make_admin(self, group: UUID, member: str) -> GroupState:
        """Make ``member`` an admin too (an admin's change)."""
        me = self._session.require_user()
        name = normalize_username(member)
        state = await self._admin_state(group, me, "make others admins")
        _require_member(state, name)
        if state.is_admin(name):
            raise InvalidChange(f"{name} is an admin of {state.name!r} already")
        if len(state.admins) >= MAX_ADMINS:
            raise InvalidChange(f"a group has at most {MAX_ADMINS} admins; {state.name!r} has")
        return await self._book.change(group, ChangeKind.ADMIN, member=name)

    async def rename(self, group: UUID, name: str) -> GroupState:
        """Rename the group (an admin's change)."""
        me = self._session.require_user()
        title = validate_group_name(name)
        state = await self._admin_state(group, me, "rename the group")
        if title == state.name:
            raise InvalidChange(f"the group is named {title!r} already")
        return await self._book.change(group, ChangeKind.RENAME, name=title)

    async def leave(self, group: UUID) -> GroupState:
        """Leave the group (any member may); when the last admin leaves, the longest-standing
        member becomes admin. The state returned is the group without this user."""
        me = self._session.require_user()
        state, _ = await self._book.get(group)
        if not state.is_member(me):
            raise NotAMember(f"you are not a member of {state.name!r} any more")
        upto = await self._progress.last(group, me)
        return await self._book.change(group, ChangeKind.LEAVE, upto=upto)

    async def list(self) -> builtins.list[tuple[GroupState, bool]]:
        """Every group this user is in, and those they left or were removed from (``True``)."""
        self._session.require_user()
        return await self._book.mine()

    async def get(self, group: UUID) -> tuple[GroupState, bool]:
        """``group``'s state and whether this user left it; ``UnknownGroup`` if never in it."""
        self._session.require_user()
        return await self._book.get(group)

    async def log(self, group: UUID) -> builtins.list[Change]:
        """``group``'s membership changes as every member agrees on them (its canonical
        chain), oldest first: who created it, added, removed, made admin, renamed, left, and
        when. ``UnknownGroup`` if this user was never in it; a group they left keeps its log
        (up to where they last learnt it)."""
        self._session.require_user()
        await self._book.get(group)  # UnknownGroup unless this user is, or was, in it
        view = await self._book.view(group)
        return [] if view is None else builtins.list(view.chain)

    async def _admin_state(self, group: UUID, me: str, what: str) -> GroupState:
        state, _ = await self._book.get(group)
        if not state.is_member(me):
            raise NotAMember(f"you are not a member of {state.name!r} any more")
        if not state.is_admin(me):
            raise NotAnAdmin(f"you are not an admin of {state.name!r}: only admins {what}")
        return state


def _require_member(state: GroupState, name: str) -> None:
    if not state.is_member(name):
        raise NotAMember(f"{name} is not a member of {state.name!r}")
