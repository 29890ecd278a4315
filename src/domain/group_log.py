"""A group's state, which changes of its log apply, and the one chain every member agrees on.

Pure rules over :mod:`group` data. Signatures are checked through a ``verify`` function passed
in (the domain calls no crypto): ``verify(key, message, signature)`` says whether ``signature``
is ``key``'s signature of ``message``; it must return a bool, never raise, and be strict (admit
one signature per message and key, as Ed25519 in ``cryptography`` does).

The rules, for a change on top of a state:

- it names the state's group, version + 1 and head (:meth:`Change.hash`); a create never
  applies on top of anything;
- its author is a member; a ``leave`` is the author's own, every other kind needs an admin;
- ``add``: somebody not a member, while the group has fewer than :data:`MAX_MEMBERS`;
- ``remove``: another member (admins included; oneself leaves instead); or, with an ``upto``,
  somebody not a member (a *cut*: it changes nothing but the version and head, and caps what
  counts of a former member's messages, see :func:`~chinwag.domain.group_message.departure_cut`:
  a member who left wrote its own ``upto``, and a dishonest one writes a huge one or none);
- ``admin``: a member not an admin yet, while there are fewer than :data:`MAX_ADMINS`;
- ``rename``: a name other than the current one;
- its signature verifies with the author's key in the state (the create's: its own ``key``,
  and its group id must be the one derived from it).

A group always has an admin while it has members: an admin can only remove *others*, and when
the last admin leaves, the longest-standing remaining member becomes admin. Simple, needs no
change of its own, and every member computes the same one.

Where the changes fork, :mod:`group_fork` says which branch is the chain (:func:`canonical`):
the one reaching the most admins' changes, so that no member can undo one with a leave.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chinwag.domain.errors import (
    DomainError,
    GroupFull,
    InvalidChange,
    InvalidSignature,
    NotAMember,
    NotAnAdmin,
    UnknownGroup,
)
from chinwag.domain.group import (
    HASH_SIZE,
    MAX_ADMINS,
    MAX_MEMBERS,
    MAX_VERSION,
    Change,
    ChangeKind,
    GroupName,
    Member,
    group_id_for,
)
from chinwag.domain.group_fork import rank, weight
from chinwag.domain.user import Username, normalize_username

Verify = Callable[[bytes, bytes, bytes], bool]
"""``verify(key, message, signature)``: whether ``signature`` is ``key``'s of ``message``."""

_ADMIN_KINDS: Final = frozenset(ChangeKind) - {ChangeKind.CREATE, ChangeKind.LEAVE}


class VersionNotReached(DomainError):
    """A version past the chain's head: the changes up to it are not known yet (wait for them,
    do not refuse)."""

    code = "version_not_reached"


def _is_name(name: str) -> str | None:
    """``name`` normalised, or ``None`` if no user can have it."""
    try:
        return normalize_username(name)
    except DomainError:
        return None


class GroupState(BaseModel):
    """What a group is after a change of its log: its name, members and admins.

    ``members`` are in order of seniority (the creator, the first members as the creator
    listed them, then each member in the order it was added; a member removed and added again
    starts again at the end): that order decides who becomes admin when the last admin leaves.
    ``version`` is the version of the last change applied (the create is version 0) and
    ``head`` its hash: the next change names both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    name: GroupName
    members: tuple[Member, ...] = Field(max_length=MAX_MEMBERS)
    admins: frozenset[Username] = Field(max_length=MAX_ADMINS)
    version: int = Field(ge=0, le=MAX_VERSION)
    head: bytes = Field(min_length=HASH_SIZE, max_length=HASH_SIZE)

    @model_validator(mode="after")
    def _rules(self) -> GroupState:
        names = [member.name for member in self.members]
        if len(set(names)) != len(names):
            raise ValueError("a member appears twice in the group")
        if not self.admins <= set(names):
            raise ValueError("every admin is a member")
        return self

    @property
    def member_keys(self) -> Mapping[str, bytes]:
        """Each member's name and identity key, in order of seniority."""
        return {member.name: member.key for member in self.members}

    @property
    def names(self) -> tuple[str, ...]:
        """The members' names, in order of seniority."""
        return tuple(member.name for member in self.members)

    def key_of(self, name: str) -> bytes | None:
        """The identity key of member ``name`` (any spelling), or ``None`` if not a member."""
        normalized = _is_name(name)
        return next((m.key for m in self.members if m.name == normalized), None)

    def is_member(self, name: str) -> bool:
        return self.key_of(name) is not None

    def is_admin(self, name: str) -> bool:
        return _is_name(name) in self.admins


def _check_genesis(change: Change) -> None:
    if change.kind is not ChangeKind.CREATE:
        raise InvalidChange(f"a group starts with a create, not with a {change.kind}")
    if len(change.members) + 1 > MAX_MEMBERS:
        raise GroupFull(f"a group has at most {MAX_MEMBERS} members")
    if change.group != group_id_for(change):
        raise InvalidChange("this create's group id is not the one derived from the create")


def _genesis_state(change: Change) -> GroupState:
    assert change.key is not None and change.name is not None  # the shape of a create
    return GroupState(
        id=change.group,
        name=change.name,
        members=(Member(name=change.author, key=change.key), *change.members),
        admins=frozenset({change.author}),
        version=0,
        head=change.hash(),
    )


def genesis(change: Change, verify: Verify) -> GroupState:
    """The state a group starts in with the create ``change``: the creator is its admin."""
    _check_genesis(change)
    assert change.key is not None
    if not verify(change.key, change.signed_bytes(), change.signature):
        raise InvalidSignature(f"the create of group {change.group} is not signed by its creator")
    return _genesis_state(change)


def _check(state: GroupState, change: Change) -> bytes:
    """Every rule but the signature; the author's key if ``change`` may follow ``state``."""
    if change.group != state.id:
        raise InvalidChange(f"this change is for group {change.group}, not {state.id}")
    if change.kind is ChangeKind.CREATE:
        raise InvalidChange("a group is created once: a create follows nothing")
    if change.version != state.version + 1 or change.prev != state.head:
        raise InvalidChange(
            f"this change follows version {change.version - 1} with another head, not "
            f"version {state.version} ({state.head.hex()[:12]})"
        )
    key = state.key_of(change.author)
    if key is None:
        raise NotAMember(f"{change.author} is not a member of the group")
    if change.kind in _ADMIN_KINDS and change.author not in state.admins:
        raise NotAnAdmin(f"{change.author} is not an admin: only admins {change.kind}")
    if change.kind is ChangeKind.ADD:
        assert change.member is not None
        if state.is_member(change.member):
            raise InvalidChange(f"{change.member} is a member already")
        if len(state.members) >= MAX_MEMBERS:
            raise GroupFull(f"the group is full: it has {MAX_MEMBERS} members")
    elif change.kind is ChangeKind.REMOVE and _is_cut(state, change):
        pass  # a cut: the state has no former members to check the name against
    elif change.kind in (ChangeKind.REMOVE, ChangeKind.ADMIN):
        assert change.member is not None
        if not state.is_member(change.member):
            raise NotAMember(f"{change.member} is not a member of the group")
        if change.kind is ChangeKind.REMOVE and change.member == change.author:
            raise InvalidChange(f"{change.author} cannot remove themselves: they leave instead")
        if change.kind is ChangeKind.ADMIN and change.member in state.admins:
            raise InvalidChange(f"{change.member} is an admin already")
        if change.kind is ChangeKind.ADMIN and len(state.admins) >= MAX_ADMINS:
            raise InvalidChange(f"a group has at most {MAX_ADMINS} admins")
    elif change.kind is ChangeKind.RENAME and change.name == state.name:
        raise InvalidChange(f"the group is named {change.name!r} already")
    return key


def _is_cut(state: GroupState, change: Change) -> bool:
    """Whether ``change`` (a ``remove``) is a cut: of somebody not a member, with an ``upto``."""
    assert change.member is not None
    return change.upto is not None and not state.is_member(change.member)


def _without(state: GroupState, name: str) -> tuple[tuple[Member, ...], frozenset[str]]:
    """Members and admins once ``name`` is gone, the group keeping an admin while it can."""
    members = tuple(m for m in state.members if m.name != name)
    admins = state.admins - {name}
    if not admins and members:
        admins = frozenset({members[0].name})  # the longest-standing member
    return members, admins


def _next(state: GroupState, change: Change) -> GroupState:
    """The state after ``change``, which :func:`_check` allowed."""
    members, admins, name = state.members, state.admins, state.name
    if change.kind is ChangeKind.ADD:
        assert change.member is not None and change.key is not None
        members = (*members, Member(name=change.member, key=change.key))
    elif change.kind is ChangeKind.REMOVE and not _is_cut(state, change):
        assert change.member is not None
        members, admins = _without(state, change.member)
    elif change.kind is ChangeKind.LEAVE:
        members, admins = _without(state, change.author)
    elif change.kind is ChangeKind.ADMIN:
        assert change.member is not None
        admins = admins | {change.member}
    elif change.kind is ChangeKind.RENAME:
        assert change.name is not None
        name = change.name
    return GroupState(
        id=state.id,
        name=name,
        members=members,
        admins=admins,
        version=change.version,
        head=change.hash(),
    )


def apply(state: GroupState, change: Change, verify: Verify) -> GroupState:
    """The state after ``change``, or the :class:`InvalidChange` (or subclass) saying why it
    does not apply on ``state``. The cheap rules come first, the signature last."""
    key = _check(state, change)
    if not verify(key, change.signed_bytes(), change.signature):
        raise InvalidSignature(f"this {change.kind} is not signed by {change.author}")
    return _next(state, change)


def canonical(
    changes: Iterable[Change], verify: Verify, *, group: UUID | None = None
) -> tuple[GroupState, list[Change]]:
    """The state of a group and the chain of changes leading to it, from the changes known.

    The genesis is the valid create with the smallest hash. Then, repeatedly, among the
    changes that follow the head and apply on the state there, the one whose branch reaches
    the most admins' changes, the smallest hash among equals (:mod:`group_fork` says why),
    until none does. The result depends only on the *set* of changes, not on their order or
    repetitions, so members holding the same changes hold the same chain.

    Changes of other groups are ignored when ``group`` is given (pass it: the changes come from
    peers); without it, creates of several groups are an :class:`InvalidChange`. No valid
    create is :class:`UnknownGroup`. Every change is verified at most once.
    """
    known: dict[bytes, Change] = {}
    for change in changes:
        if group is None or change.group == group:
            known.setdefault(change.hash(), change)
    creates = sorted((h, c) for h, c in known.items() if c.kind is ChangeKind.CREATE)
    if group is None and len({c.group for _, c in creates}) > 1:
        raise InvalidChange("these changes create several groups: say which one")
    state: GroupState | None = None
    for _, create in creates:
        try:
            state = genesis(create, verify)
        except DomainError:
            continue
        break
    if state is None:
        raise UnknownGroup(
            "no valid create among the changes" + (f" of group {group}" if group else "")
        )
    children: defaultdict[bytes, list[tuple[bytes, Change]]] = defaultdict(list)
    for digest, change in known.items():
        if change.kind is not ChangeKind.CREATE and change.group == state.id:
            children[change.prev].append((digest, change))
    # The tree of valid changes, parents first: each applied once, on the state it follows.
    states = {state.head: state}
    weights = {state.head: 0}
    kids: dict[bytes, list[bytes]] = {}
    order = [state.head]
    for parent in order:  # (grows while it is walked)
        base = states[parent]
        for digest, change in children.pop(parent, ()):
            try:
                states[digest] = apply(base, change, verify)
            except DomainError:
                continue
            weights[digest] = weight(change, base.admins)
            kids.setdefault(parent, []).append(digest)
            order.append(digest)
    reach: dict[bytes, int] = {}
    for digest in reversed(order):  # children first
        below = max((reach[kid] for kid in kids.get(digest, ())), default=0)
        reach[digest] = weights[digest] + below
    head, chain = state.head, [known[state.head]]
    while head in kids:
        head = min(kids[head], key=lambda kid: rank(reach[kid], kid))
        chain.append(known[head])
    return states[head], chain


def orphans(changes: Iterable[Change], chain: Sequence[Change]) -> list[Change]:
    """The changes (once each) that are not on ``chain``, by version then hash.

    An orphan's author may write it again on top of the new head if it still makes sense.
    """
    on_chain = {change.hash() for change in chain}
    left = {change.hash(): change for change in changes if change.hash() not in on_chain}
    return [left[h] for h in sorted(left, key=lambda h: (left[h].version, h))]


def replay(chain: Sequence[Change]) -> list[GroupState]:
    """The state after each change of ``chain`` (``[i]`` is version ``i``).

    For a chain :func:`canonical` returned (or stored from it): every rule is checked again
    but the signatures, which it checked. :class:`InvalidChange` if a step does not follow.
    """
    if not chain:
        raise UnknownGroup("an empty chain has no group")
    _check_genesis(chain[0])
    states = [_genesis_state(chain[0])]
    for change in chain[1:]:
        _check(states[-1], change)
        states.append(_next(states[-1], change))
    return states


def state_at(chain: Sequence[Change], version: int) -> GroupState:
    """The state at ``version``; :class:`VersionNotReached` past the chain's head."""
    if version < 0:
        raise InvalidChange(f"versions start at 0, not {version}")
    if version >= len(chain):
        raise VersionNotReached(
            f"version {version} is not reached yet: the chain ends at {len(chain) - 1}"
        )
    return replay(chain[: version + 1])[-1]


def members_at(chain: Sequence[Change], version: int) -> frozenset[str]:
    """The names of the members at ``version`` (see :func:`state_at`)."""
    return frozenset(state_at(chain, version).names)


def is_member_at(chain: Sequence[Change], version: int, name: str) -> bool:
    """Whether ``name`` (any spelling) was a member at ``version`` (see :func:`state_at`):
    what decides whether a message sent under that version may be from or for ``name``."""
    try:
        normalized = normalize_username(name)
    except DomainError:
        return False
    return normalized in members_at(chain, version)
