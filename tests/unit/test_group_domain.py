"""The group domain: names, changes and their encoding, the rules of the log, the canonical chain.

Signatures are faked: a key's signature of a message is SHA-256(key || message), so a change
signed with the wrong key, or carrying random bytes, fails like a forged Ed25519 signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.domain.errors import (
    GroupFull,
    InvalidChange,
    InvalidSignature,
    NotAMember,
    NotAnAdmin,
    UnknownGroup,
)
from chinwag.domain.group import (
    CHANGE_CONTEXT,
    MAX_ADMINS,
    MAX_GROUP_NAME,
    MAX_MEMBERS,
    Change,
    ChangeKind,
    InvalidGroupName,
    Member,
    canonical_json,
    group_id_for,
    validate_group_name,
)
from chinwag.domain.group_fork import rank, weight
from chinwag.domain.group_log import (
    GroupState,
    VersionNotReached,
    apply,
    canonical,
    genesis,
    is_member_at,
    members_at,
    orphans,
    replay,
    state_at,
)
from chinwag.domain.group_message import departure_cut

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def key(name: str) -> bytes:
    return hashlib.sha256(b"identity:" + name.encode()).digest()


def fake_signature(signer_key: bytes, message: bytes) -> bytes:
    return hashlib.sha256(signer_key + message).digest()


def verify(signer_key: bytes, message: bytes, signature: bytes) -> bool:
    return signature == fake_signature(signer_key, message)


def signed(change: Change, by: str | None = None) -> Change:
    """``change`` signed by ``by``'s key (its author's unless said)."""
    return change.signed(fake_signature(key(by or change.author), change.signed_bytes()))


def create(
    author: str = "alice",
    members: Iterable[str] = ("bob", "carol"),
    name: str = "friends",
    at: datetime = T0,
) -> Change:
    draft = Change.create(
        author=author, key=key(author), name=name, members={m: key(m) for m in members}, at=at
    )
    return signed(draft)


def follow(
    state: GroupState, kind: ChangeKind, author: str, at: datetime = T0, **fields: Any
) -> Change:
    """A change of ``kind`` by ``author`` on top of ``state``, signed by the author."""
    if kind is ChangeKind.ADD and "key" not in fields:
        fields["key"] = key(fields["member"])
    draft = Change(
        group=state.id,
        kind=kind,
        version=state.version + 1,
        prev=state.head,
        author=author,
        at=at,
        **fields,
    )
    return signed(draft)


def started(members: Iterable[str] = ("bob", "carol")) -> tuple[GroupState, Change]:
    change = create(members=members)
    return genesis(change, verify), change


def run(state: GroupState, *steps: tuple[ChangeKind, str, dict[str, Any]]) -> GroupState:
    for kind, author, fields in steps:
        state = apply(state, follow(state, kind, author, **fields), verify)
    return state


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("friends", "friends"),
        ("  Book club  ", "Book club"),
        ("\u3000famille\u00a0", "famille"),
        ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),  # joiners inside emoji
        ("می\u200cخواهم", "می\u200cخواهم"),  # the non-joiner Persian needs
        ("Ça va? 東京 ❤\ufe0f", "Ça va? 東京 ❤\ufe0f"),
        ("x" * MAX_GROUP_NAME, "x" * MAX_GROUP_NAME),
    ],
)
def test_group_names_that_are_kept(raw: str, expected: str) -> None:
    assert validate_group_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\u200d\u200c",  # joiners only
        "\u3164\u2800",  # Hangul filler, blank braille
        "\u0301",  # a combining accent alone
        "evil\u202egnp.exe",  # right-to-left override
        "a\u2066b",  # bidi isolate
        "two\nlines",
        "tab\there",
        "bell\x07",
        "zero\u200bwidth",
        "tag\U000e0041",  # invisible tag letters
        "lone \ud800",  # a surrogate, not UTF-8
        "x" * (MAX_GROUP_NAME + 1),
    ],
)
def test_group_names_that_are_refused(raw: str) -> None:
    with pytest.raises(InvalidGroupName):
        validate_group_name(raw)


def test_a_refused_group_name_says_which_character() -> None:
    with pytest.raises(InvalidGroupName, match="U\\+202E"):
        validate_group_name("evil\u202egnp")


# --- changes: shape and encoding ------------------------------------------------------------


def test_a_create_derives_the_group_id_and_makes_its_creator_admin() -> None:
    change = create(members=("bob", "carol"))
    state = genesis(change, verify)
    assert state.id == change.group == group_id_for(change)
    assert state.id.version == 8
    assert state.names == ("alice", "bob", "carol")
    assert state.admins == {"alice"}
    assert state.version == 0
    assert state.head == change.hash()
    assert state.name == "friends"
    assert state.member_keys == {n: key(n) for n in ("alice", "bob", "carol")}


def test_the_group_id_depends_on_everything_the_create_says() -> None:
    base = create()
    others = [
        create(members=("bob",)),
        create(members=("carol", "bob")),
        create(name="others"),
        create(at=T0 + timedelta(microseconds=1)),
        create(author="dave"),
    ]
    assert len({base.group, *(c.group for c in others)}) == 6


def test_the_group_id_does_not_depend_on_the_signature() -> None:
    draft = create().signed(b"")
    assert group_id_for(draft) == group_id_for(signed(draft))


def test_signed_bytes_are_the_documented_canonical_json() -> None:
    state, _ = started()
    change = follow(state, ChangeKind.ADD, "alice", member="Dave", key=key("dave"))
    data = change.signed_bytes()
    assert data.startswith(CHANGE_CONTEXT)
    body = json.loads(data[len(CHANGE_CONTEXT) :])
    assert body == {
        "type": "chinwag.group.change/1",
        "kind": "add",
        "group": str(state.id),
        "version": 1,
        "prev": state.head.hex(),
        "author": "alice",
        "at": "2025-03-01T12:00:00.000000Z",
        "member": "dave",
        "key": key("dave").hex(),
    }
    assert data[len(CHANGE_CONTEXT) :] == json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_signed_bytes_of_a_create_list_its_members_in_order() -> None:
    change = create(members=("carol", "bob"), name="Ça 👍")
    body = json.loads(change.signed_bytes()[len(CHANGE_CONTEXT) :])
    assert body["prev"] == ""
    assert body["name"] == "Ça 👍"
    assert body["key"] == key("alice").hex()
    assert body["members"] == [
        {"name": "carol", "key": key("carol").hex()},
        {"name": "bob", "key": key("bob").hex()},
    ]


def test_time_is_kept_in_utc_whatever_the_offset_it_came_with() -> None:
    state, _ = started()
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    here = follow(state, ChangeKind.RENAME, "alice", at=local, name="x")
    there = follow(state, ChangeKind.RENAME, "alice", at=T0, name="x")
    assert here.at.tzinfo is UTC
    assert here.signed_bytes() == there.signed_bytes()
    assert here.hash() == there.hash()


@pytest.mark.parametrize(
    "at",
    [datetime(1999, 12, 31, 23, 59, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)],
)
def test_change_times_are_bounded(at: datetime) -> None:
    state, _ = started()
    with pytest.raises(ValidationError, match="time"):
        follow(state, ChangeKind.LEAVE, "bob", at=at)


def test_a_naive_time_is_refused() -> None:
    state, _ = started()
    with pytest.raises(ValidationError):
        follow(state, ChangeKind.LEAVE, "bob", at=datetime(2025, 1, 1))


def test_the_hash_covers_the_signature() -> None:
    change = create()
    assert change.hash() != change.signed(b"\x00" * 32).hash()
    assert change.hash() == hashlib.sha256(change.signed_bytes() + change.signature).digest()


def test_changes_are_frozen() -> None:
    change = create()
    with pytest.raises(ValidationError):
        change.version = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (ChangeKind.ADD, {"member": "dave"}),  # no key
        (ChangeKind.ADD, {"key": key("dave")}),  # no member
        (ChangeKind.REMOVE, {}),
        (ChangeKind.REMOVE, {"member": "bob", "key": key("bob")}),
        (ChangeKind.ADMIN, {"member": "bob", "name": "x"}),
        (ChangeKind.LEAVE, {"member": "bob"}),
        (ChangeKind.RENAME, {}),
        (ChangeKind.RENAME, {"name": "x", "members": (Member(name="bob", key=key("bob")),)}),
        (ChangeKind.RENAME, {"name": "\u202e"}),
        (ChangeKind.ADD, {"member": "dave", "key": b"short"}),
        (ChangeKind.ADD, {"member": "not a name", "key": key("x")}),
        (ChangeKind.ADMIN, {"member": "bob", "upto": 3}),  # only departures carry a cut
        (ChangeKind.REMOVE, {"member": "bob", "upto": -1}),
    ],
)
def test_each_kind_carries_its_fields_and_no_others(
    kind: ChangeKind, fields: dict[str, Any]
) -> None:
    state, _ = started()
    with pytest.raises(ValidationError):
        Change(
            group=state.id, kind=kind, version=1, prev=state.head, author="alice", at=T0, **fields
        )


@pytest.mark.parametrize(
    "fields",
    [
        {"version": 1},
        {"prev": b"\x01" * 32},
        {"members": (Member(name="bob", key=key("bob")), Member(name="bob", key=key("bob")))},
        {"members": (Member(name="alice", key=key("alice")),)},  # the creator is not listed
        {"name": None},
        {"key": None},
    ],
)
def test_a_create_is_version_0_on_nothing_with_its_members_once(fields: dict[str, Any]) -> None:
    good: dict[str, Any] = {
        "group": uuid4(),
        "kind": ChangeKind.CREATE,
        "version": 0,
        "prev": b"",
        "author": "alice",
        "at": T0,
        "name": "friends",
        "key": key("alice"),
    }
    Change(**good)
    with pytest.raises(ValidationError):
        Change(**{**good, **fields})


def test_a_change_after_the_create_names_a_32_byte_prev() -> None:
    state, _ = started()
    with pytest.raises(ValidationError):
        Change(group=state.id, kind=ChangeKind.LEAVE, version=1, prev=b"", author="bob", at=T0)


def test_a_signature_is_bounded() -> None:
    with pytest.raises(ValidationError):
        create().signed(b"s" * 65)


def canonical_values() -> st.SearchStrategy[Any]:
    leaves = st.text() | st.integers(-(2**70), 2**70)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )


@given(canonical_values())
def test_canonical_json_is_what_json_dumps_writes(value: Any) -> None:
    try:
        expected = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: not UTF-8, never in a change
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [True, None, 1.5, b"x", {1: "x"}])
def test_canonical_json_refuses_what_a_change_never_holds(value: Any) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


# --- state ----------------------------------------------------------------------------------


def test_a_state_keeps_its_admins_among_its_members_once() -> None:
    state, _ = started()
    with pytest.raises(ValidationError, match="admin"):
        GroupState.model_validate({**dict(state), "admins": {"zed"}})
    with pytest.raises(ValidationError, match="twice"):
        GroupState.model_validate({**dict(state), "members": (*state.members, state.members[0])})


def test_membership_questions_accept_any_spelling_of_a_name() -> None:
    state, _ = started()
    assert state.is_member("BOB")
    assert state.key_of("Carol") == key("carol")
    assert state.is_admin("ALICE")
    assert not state.is_member("not a name")
    assert not state.is_admin("bob")


# --- the rules ------------------------------------------------------------------------------


def test_admins_add_remove_promote_and_rename() -> None:
    state, _ = started()
    state = run(
        state,
        (ChangeKind.ADD, "alice", {"member": "dave"}),
        (ChangeKind.ADMIN, "alice", {"member": "bob"}),
        (ChangeKind.REMOVE, "bob", {"member": "carol"}),
        (ChangeKind.RENAME, "bob", {"name": "new name"}),
    )
    assert state.names == ("alice", "bob", "dave")
    assert state.admins == {"alice", "bob"}
    assert state.name == "new name"
    assert state.version == 4
    assert state.key_of("dave") == key("dave")


def test_an_admin_may_remove_another_admin() -> None:
    state, _ = started()
    state = run(
        state,
        (ChangeKind.ADMIN, "alice", {"member": "bob"}),
        (ChangeKind.REMOVE, "bob", {"member": "alice"}),
    )
    assert state.names == ("bob", "carol")
    assert state.admins == {"bob"}


def test_nobody_removes_themselves_they_leave() -> None:
    state, _ = started()
    with pytest.raises(InvalidChange, match="leave"):
        apply(state, follow(state, ChangeKind.REMOVE, "alice", member="alice"), verify)


def test_any_member_may_leave() -> None:
    state, _ = started()
    state = run(state, (ChangeKind.LEAVE, "carol", {}))
    assert state.names == ("alice", "bob")
    assert state.admins == {"alice"}


def test_when_the_last_admin_leaves_the_longest_standing_member_becomes_admin() -> None:
    state, _ = started(members=("bob", "carol", "dave"))
    state = run(
        state,
        (ChangeKind.REMOVE, "alice", {"member": "bob"}),
        (ChangeKind.ADD, "alice", {"member": "bob"}),  # bob starts again, after dave
        (ChangeKind.LEAVE, "alice", {}),
    )
    assert state.names == ("carol", "dave", "bob")
    assert state.admins == {"carol"}


def test_when_one_of_two_admins_leaves_nobody_is_promoted() -> None:
    state, _ = started()
    state = run(
        state, (ChangeKind.ADMIN, "alice", {"member": "carol"}), (ChangeKind.LEAVE, "alice", {})
    )
    assert state.admins == {"carol"}


def test_when_the_last_member_leaves_the_group_is_over() -> None:
    state, _ = started(members=())
    state = run(state, (ChangeKind.LEAVE, "alice", {}))
    assert state.members == ()
    assert state.admins == frozenset()
    with pytest.raises(NotAMember):
        apply(state, follow(state, ChangeKind.ADD, "alice", member="bob"), verify)


@pytest.mark.parametrize(
    ("kind", "author", "fields"),
    [
        (ChangeKind.ADD, "bob", {"member": "dave"}),
        (ChangeKind.REMOVE, "bob", {"member": "carol"}),
        (ChangeKind.REMOVE, "bob", {"member": "alice"}),
        (ChangeKind.ADMIN, "bob", {"member": "bob"}),
        (ChangeKind.RENAME, "bob", {"name": "mine now"}),
    ],
)
def test_only_admins_change_the_group(kind: ChangeKind, author: str, fields: Any) -> None:
    state, _ = started()
    with pytest.raises(NotAnAdmin, match="bob is not an admin"):
        apply(state, follow(state, kind, author, **fields), verify)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (ChangeKind.ADD, {"member": "erin"}),
        (ChangeKind.LEAVE, {}),
        (ChangeKind.RENAME, {"name": "mine"}),
    ],
)
def test_a_stranger_changes_nothing(kind: ChangeKind, fields: Any) -> None:
    state, _ = started()
    with pytest.raises(NotAMember, match="mallory is not a member"):
        apply(state, follow(state, kind, "mallory", **fields), verify)


def test_a_removed_admin_changes_nothing_more() -> None:
    state, _ = started()
    state = run(
        state,
        (ChangeKind.ADMIN, "alice", {"member": "bob"}),
        (ChangeKind.REMOVE, "alice", {"member": "bob"}),
    )
    with pytest.raises(NotAMember):
        apply(state, follow(state, ChangeKind.REMOVE, "bob", member="alice"), verify)


@pytest.mark.parametrize(
    ("kind", "fields", "error", "text"),
    [
        (ChangeKind.ADD, {"member": "bob"}, InvalidChange, "member already"),
        (ChangeKind.REMOVE, {"member": "dave"}, NotAMember, "dave is not a member"),
        (ChangeKind.ADMIN, {"member": "dave"}, NotAMember, "dave is not a member"),
        (ChangeKind.ADMIN, {"member": "alice"}, InvalidChange, "admin already"),
        (ChangeKind.RENAME, {"name": " friends "}, InvalidChange, "named 'friends' already"),
    ],
)
def test_changes_that_change_nothing_are_refused(
    kind: ChangeKind, fields: Any, error: type[Exception], text: str
) -> None:
    state, _ = started()
    with pytest.raises(error, match=text):
        apply(state, follow(state, kind, "alice", **fields), verify)


def test_a_group_holds_max_members() -> None:
    names = [f"m{i}" for i in range(MAX_MEMBERS - 1)]
    state = genesis(create(members=names), verify)
    assert len(state.members) == MAX_MEMBERS
    with pytest.raises(GroupFull, match=str(MAX_MEMBERS)):
        apply(state, follow(state, ChangeKind.ADD, "alice", member="one-more"), verify)
    state = run(state, (ChangeKind.REMOVE, "alice", {"member": "m7"}))
    state = run(state, (ChangeKind.ADD, "alice", {"member": "one-more"}))
    assert len(state.members) == MAX_MEMBERS


def test_a_group_is_not_created_over_max_members() -> None:
    with pytest.raises(GroupFull):
        create(members=[f"m{i}" for i in range(MAX_MEMBERS)])


def test_a_group_holds_max_admins() -> None:
    names = [f"m{i}" for i in range(MAX_ADMINS)]
    state, _ = started(members=names)
    state = run(state, *((ChangeKind.ADMIN, "alice", {"member": n}) for n in names[:-1]))
    assert len(state.admins) == MAX_ADMINS
    with pytest.raises(InvalidChange, match=f"at most {MAX_ADMINS} admins"):
        apply(state, follow(state, ChangeKind.ADMIN, "alice", member=names[-1]), verify)


def test_a_change_follows_its_version_and_head_in_its_group() -> None:
    state, _ = started()
    good = follow(state, ChangeKind.LEAVE, "bob")
    for bad in (
        good.model_copy(update={"version": 2}),
        good.model_copy(update={"prev": b"\x00" * 32}),
    ):
        with pytest.raises(InvalidChange, match="follows version"):
            apply(state, signed(bad), verify)
    with pytest.raises(InvalidChange, match="for group"):
        apply(state, signed(good.model_copy(update={"group": uuid4()})), verify)
    with pytest.raises(InvalidChange, match="created once"):
        apply(state, create(), verify)
    apply(state, good, verify)


def test_a_forged_signature_never_applies() -> None:
    state, _ = started()
    change = follow(state, ChangeKind.ADD, "alice", member="mallory")
    for forged in (
        change.signed(b""),
        change.signed(b"\x00" * 32),
        signed(change, by="mallory"),
        signed(change, by="bob"),  # a member, but not the author
    ):
        with pytest.raises(InvalidSignature, match="not signed by alice"):
            apply(state, forged, verify)


def test_a_change_altered_after_signing_does_not_verify() -> None:
    state, _ = started()
    change = follow(state, ChangeKind.ADD, "alice", member="dave")
    altered = Change(**{**dict(change), "key": key("mallory")})
    with pytest.raises(InvalidSignature):
        apply(state, altered, verify)


def test_a_create_is_signed_by_the_key_it_carries() -> None:
    draft = Change.create(author="alice", key=key("alice"), name="g", members={}, at=T0)
    with pytest.raises(InvalidSignature):
        genesis(signed(draft, by="mallory"), verify)
    with pytest.raises(InvalidChange, match="starts with a create"):
        genesis(follow(genesis(signed(draft), verify), ChangeKind.LEAVE, "alice"), verify)


def test_a_create_claiming_another_groups_id_is_refused() -> None:
    genuine = create()
    impostor = Change(**{**dict(create(author="mallory")), "group": genuine.group})
    with pytest.raises(InvalidChange, match="derived"):
        genesis(signed(impostor), verify)


# --- the canonical chain --------------------------------------------------------------------


def test_concurrent_changes_the_smallest_hash_wins_and_the_other_is_an_orphan() -> None:
    state, start = started()
    state = run(state, (ChangeKind.ADMIN, "alice", {"member": "bob"}))
    first = follow(genesis(start, verify), ChangeKind.ADMIN, "alice", member="bob")
    by_alice = follow(state, ChangeKind.ADD, "alice", member="dave")
    by_bob = follow(state, ChangeKind.REMOVE, "bob", member="carol")
    winner, loser = sorted((by_alice, by_bob), key=Change.hash)
    changes = [start, first, by_alice, by_bob]

    final, chain = canonical(changes, verify, group=state.id)

    assert chain == [start, first, winner]
    assert orphans(changes, chain) == [loser]
    # The loser's author writes it again on top of the new head, and it applies.
    again = follow(final, loser.kind, loser.author, member=loser.member, key=loser.key)
    final, chain = canonical([*changes, again], verify, group=state.id)
    assert chain == [start, first, winner, again]
    assert final.names == ("alice", "bob", "dave")


def test_a_smaller_hash_that_does_not_apply_does_not_win() -> None:
    state, start = started()
    valid = follow(state, ChangeKind.ADD, "alice", member="dave")
    forged = [
        follow(state, ChangeKind.ADD, "alice", member=f"x{i}").signed(b"\x00" * 32)
        for i in range(8)
    ]
    assert any(f.hash() < valid.hash() for f in forged)
    _, chain = canonical([start, valid, *forged], verify)
    assert chain == [start, valid]


def test_the_chain_goes_on_from_changes_that_followed_an_orphan_only_if_they_apply() -> None:
    state, start = started()
    left = follow(state, ChangeKind.RENAME, "alice", name="left")
    right = follow(state, ChangeKind.RENAME, "alice", name="right")
    winner, loser = sorted((left, right), key=Change.hash)
    after_loser = follow(apply(state, loser, verify), ChangeKind.LEAVE, "bob")
    _, chain = canonical([start, left, right, after_loser], verify)
    assert chain == [start, winner]
    assert orphans([start, left, right, after_loser], chain) == [loser, after_loser]


def test_canonical_needs_a_valid_create() -> None:
    state, start = started()
    leave = follow(state, ChangeKind.LEAVE, "bob")
    with pytest.raises(UnknownGroup):
        canonical([leave], verify)
    with pytest.raises(UnknownGroup):
        canonical([start.signed(b"\x01" * 32), leave], verify)
    with pytest.raises(UnknownGroup):
        canonical([], verify)


def test_canonical_keeps_to_one_group() -> None:
    _, start = started()
    other = create(name="other")
    with pytest.raises(InvalidChange, match="several groups"):
        canonical([start, other], verify)
    _, chain = canonical([start, other], verify, group=other.group)
    assert chain == [other]
    with pytest.raises(UnknownGroup):
        canonical([start, other], verify, group=uuid4())


def test_of_several_valid_creates_for_one_id_the_smallest_hash_is_the_genesis() -> None:
    # Only a signer who signs the same bytes twice differently can make two; accept both.
    draft = create().signed(b"")
    one, two = draft.signed(b"\x01" * 32), draft.signed(b"\x02" * 32)

    def either(_: bytes, __: bytes, signature: bytes) -> bool:
        return signature in {b"\x01" * 32, b"\x02" * 32}

    state, chain = canonical([one, two], either)
    assert chain == [min(one, two, key=Change.hash)]
    assert state.head == min(one.hash(), two.hash())


def test_an_impostor_create_with_a_smaller_hash_cannot_take_a_group_over() -> None:
    genuine = create()
    moments = (T0 + timedelta(seconds=s) for s in itertools.count())
    impostor = next(
        i
        for i in (
            signed(Change(**{**dict(create(author="mallory", at=at)), "group": genuine.group}))
            for at in moments
        )
        if i.hash() < genuine.hash()
    )
    state, chain = canonical([impostor, genuine], verify, group=genuine.group)
    assert chain == [genuine]
    assert state.admins == {"alice"}


def test_canonical_verifies_each_change_at_most_once() -> None:
    state, start = started()
    changes = [start]
    for i in range(5):
        change = follow(state, ChangeKind.ADD, "alice", member=f"m{i}")
        changes += [change, change.signed(b"\x00" * 32), signed(change, by="bob")]
        state = apply(state, change, verify)
    calls: list[bytes] = []

    def counting(k: bytes, message: bytes, signature: bytes) -> bool:
        calls.append(hashlib.sha256(message + signature).digest())
        return verify(k, message, signature)

    _, chain = canonical(changes * 2, counting)
    assert len(chain) == 6
    assert len(calls) == len(set(calls))


def test_every_order_of_learning_a_fork_gives_the_same_chain() -> None:
    state, start = started(members=("bob", "carol", "dave"))
    promoted = follow(state, ChangeKind.ADMIN, "alice", member="bob")
    state = apply(state, promoted, verify)
    a = follow(state, ChangeKind.REMOVE, "alice", member="bob")
    b = follow(state, ChangeKind.REMOVE, "bob", member="alice")
    after_a = follow(apply(state, a, verify), ChangeKind.RENAME, "alice", name="a")
    after_b = follow(apply(state, b, verify), ChangeKind.RENAME, "bob", name="b")
    changes = [start, promoted, a, b, after_a, after_b]
    results = {
        (final, tuple(c.hash() for c in chain))
        for final, chain in (canonical(order, verify) for order in itertools.permutations(changes))
    }
    assert len(results) == 1
    (final, hashes), *_ = results
    assert len(hashes) == 4
    assert final.name in {"a", "b"}


# --- membership at a version ----------------------------------------------------------------


def test_membership_at_each_version_through_removal_and_return() -> None:
    state, start = started()
    chain = [start]
    steps: list[tuple[ChangeKind, dict[str, Any]]] = [
        (ChangeKind.REMOVE, {"member": "bob"}),
        (ChangeKind.RENAME, {"name": "without bob"}),
        (ChangeKind.ADD, {"member": "bob"}),
    ]
    for kind, fields in steps:
        chain.append(follow(state, kind, "alice", **fields))
        state = apply(state, chain[-1], verify)
    assert [is_member_at(chain, v, "Bob") for v in range(4)] == [True, False, False, True]
    assert members_at(chain, 1) == {"alice", "carol"}
    assert state_at(chain, 2).name == "without bob"
    assert replay(chain)[-1] == state
    assert not is_member_at(chain, 3, "no such name!")
    with pytest.raises(VersionNotReached, match="chain ends at 3"):
        is_member_at(chain, 4, "bob")
    with pytest.raises(InvalidChange):
        state_at(chain, -1)


def test_replay_refuses_a_chain_that_does_not_follow() -> None:
    state, start = started()
    one = follow(state, ChangeKind.LEAVE, "bob")
    two = follow(apply(state, one, verify), ChangeKind.LEAVE, "carol")
    assert len(replay([start, one, two])) == 3
    with pytest.raises(InvalidChange):
        replay([start, two, one])
    with pytest.raises(InvalidChange):
        replay([one])
    with pytest.raises(UnknownGroup):
        replay([])


# --- properties -----------------------------------------------------------------------------

PEOPLE = ("alice", "bob", "carol", "dave", "erin", "mallory")


class Scenario:
    """A random tree of changes: several admins writing on forks, strangers and non-admins
    trying their luck, forged signatures, duplicates. Labels say what must never apply."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.genesis = create(members=rng.sample(PEOPLE[1:5], rng.randint(0, 4)))
        self.changes: list[Change] = [self.genesis]
        self.forged: set[bytes] = set()
        self.unauthorized: set[bytes] = set()
        nodes = [genesis(self.genesis, verify)]
        # Impostor and forged creates.
        self.changes.append(
            signed(Change(**{**dict(create(author="mallory")), "group": self.genesis.group}))
        )
        self.changes.append(create(at=T0 + timedelta(days=1)).signed(b"\x00" * 32))
        for _ in range(rng.randint(0, 40)):
            if rng.random() < 0.5:  # as clients do: on top of the head they know
                base, _ = canonical(self.changes, verify, group=self.genesis.group)
            else:  # concurrently, on top of an older state
                base = rng.choice(nodes[-4:] if rng.random() < 0.7 else nodes)
            change = self._draft(rng, base)
            if rng.random() < 0.15:
                change = change.signed(rng.randbytes(32))
                self.forged.add(change.hash())
            elif rng.random() < 0.05:
                signer = rng.choice(PEOPLE)
                change = signed(change, by=signer)
                if signer != change.author:
                    self.forged.add(change.hash())
            if change.kind is not ChangeKind.LEAVE and change.author not in base.admins:
                self.unauthorized.add(change.hash())
            with contextlib.suppress(InvalidChange):
                nodes.append(apply(base, change, verify))
            self.changes.append(change)
            if rng.random() < 0.1:
                self.changes.append(change)  # learnt twice

    @staticmethod
    def _draft(rng: random.Random, base: GroupState) -> Change:
        kinds = [ChangeKind.ADD, ChangeKind.REMOVE, ChangeKind.ADMIN, ChangeKind.RENAME]
        kind = rng.choices([*kinds, ChangeKind.LEAVE], weights=[4, 2, 2, 2, 1])[0]
        admins = sorted(base.admins)
        if admins and rng.random() < 0.7:
            author = rng.choice(admins)
        else:
            author = rng.choice(base.names if base.names and rng.random() < 0.8 else PEOPLE)
        strangers = [p for p in PEOPLE if not base.is_member(p)]
        others = [n for n in base.names if n != author]
        fields: dict[str, Any] = {}
        if kind is ChangeKind.ADD:
            fields["member"] = rng.choice(strangers if strangers and rng.random() < 0.8 else PEOPLE)
        elif kind in (ChangeKind.REMOVE, ChangeKind.ADMIN):
            fields["member"] = rng.choice(others if others and rng.random() < 0.8 else PEOPLE)
        elif kind is ChangeKind.RENAME:
            fields["name"] = rng.choice(["a", "b", "c", base.name])
        at = T0 + timedelta(seconds=rng.randint(0, 10**6))
        return follow(base, kind, author, at=at, **fields)


def _children(changes: Iterable[Change]) -> Mapping[bytes, list[Change]]:
    children: dict[bytes, list[Change]] = {}
    for change in {c.hash(): c for c in changes}.values():
        children.setdefault(change.prev, []).append(change)
    return children


def reach(state: GroupState, change: Change, children: Mapping[bytes, list[Change]]) -> int | None:
    """The rule's reach of ``change`` on ``state``, computed from its definition (the most
    admins' changes on one valid path down from it); None if it does not apply there."""
    try:
        after = apply(state, change, verify)
    except InvalidChange:
        return None
    below = [reach(after, child, children) for child in children.get(after.head, [])]
    return weight(change, state.admins) + max((r for r in below if r is not None), default=0)


def valid_states(changes: Iterable[Change], group: UUID) -> list[GroupState]:
    """The state after every valid change of the tree that hangs from the group's create."""
    _, chain = canonical(changes, verify, group=group)
    children = _children(c for c in changes if c.group == group)
    found = [genesis(chain[0], verify)]
    for state in found:  # (grows while it is walked)
        for child in children.get(state.head, []):
            with contextlib.suppress(InvalidChange):
                found.append(apply(state, child, verify))
    return found


def forked_leaves(rng: random.Random, changes: Sequence[Change], group: UUID) -> list[Change]:
    """The attack: members who are no admins sign leaves following random valid changes (the
    chain's past included), some of them colluding, each leaving on top of the last."""
    nodes = valid_states(changes, group)
    attack: list[Change] = []
    for _ in range(rng.randint(1, 6)):
        base = rng.choice(nodes)
        for _ in range(rng.randint(1, 5)):
            plain = [name for name in base.names if name not in base.admins]
            if not plain:
                break
            at = T0 + timedelta(seconds=rng.randint(0, 10**6))
            leave = follow(base, ChangeKind.LEAVE, rng.choice(plain), at=at)
            attack.append(leave)
            base = apply(base, leave, verify)
    return attack


def admins_part(chain: Sequence[Change]) -> list[Change]:
    """``chain`` up to its last change by an admin (the create at least)."""
    states = replay(chain)
    last = max(
        (v for v in range(1, len(chain)) if weight(chain[v], states[v - 1].admins)), default=0
    )
    return list(chain[: last + 1])


def smallest_hash_chain(changes: Iterable[Change], group: UUID) -> list[Change]:
    """The chain as the rule replaced took it: the smallest valid hash at every fork."""
    _, chain = canonical(changes, verify, group=group)
    children = _children(c for c in changes if c.group == group)
    state, chain = genesis(chain[0], verify), chain[:1]
    while True:
        for child in sorted(children.get(state.head, []), key=Change.hash):
            with contextlib.suppress(InvalidChange):
                state = apply(state, child, verify)
                chain.append(child)
                break
        else:
            return chain


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64), st.randoms(use_true_random=False))
def test_any_order_of_learning_the_changes_gives_the_same_state_and_chain(
    seed: int, order: random.Random
) -> None:
    scenario = Scenario(seed)
    gid = scenario.genesis.group
    expected_state, expected_chain = canonical(scenario.changes, verify, group=gid)
    for _ in range(3):
        shuffled = list(scenario.changes)
        order.shuffle(shuffled)
        shuffled += order.sample(shuffled, order.randint(0, len(shuffled)))  # repetitions
        state, chain = canonical(shuffled, verify, group=gid)
        assert state == expected_state
        assert [c.hash() for c in chain] == [c.hash() for c in expected_chain]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64))
def test_the_chain_is_valid_greedy_and_maximal(seed: int) -> None:
    scenario = Scenario(seed)
    final, chain = canonical(scenario.changes, verify, group=scenario.genesis.group)
    children = _children(scenario.changes)
    assert chain[0] == scenario.genesis
    states = [genesis(chain[0], verify)]
    for change in chain[1:]:
        assert change.hash() not in scenario.forged
        assert change.hash() not in scenario.unauthorized
        before = states[-1]
        if change.kind is ChangeKind.LEAVE:
            assert before.is_member(change.author)
        else:
            assert change.author in before.admins
        # Greedy: every other sibling does not apply here, or ranks after it (a branch
        # reaching fewer admins' changes, or as many with a greater hash).
        taken = rank(reach(before, change, children) or 0, change.hash())
        for sibling in children.get(before.head, []):
            if sibling.hash() != change.hash():
                theirs = reach(before, sibling, children)
                assert theirs is None or rank(theirs, sibling.hash()) > taken
        states.append(apply(before, change, verify))
    assert states[-1] == final
    assert replay(chain) == states
    # Maximal: nothing known applies on top of the head.
    for child in children.get(final.head, []):
        with pytest.raises(InvalidChange):
            apply(final, child, verify)
    # A group keeps an admin while it has members.
    assert all(bool(s.admins) == bool(s.members) for s in states)
    # Orphans and chain split the changes known.
    lost = orphans(scenario.changes, chain)
    unique = {c.hash() for c in scenario.changes}
    assert {c.hash() for c in lost} | {c.hash() for c in chain} == unique
    assert len(lost) + len(chain) == len(unique)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64))
def test_membership_follows_the_chain(seed: int) -> None:
    scenario = Scenario(seed)
    _, chain = canonical(scenario.changes, verify, group=scenario.genesis.group)
    states = replay(chain)
    for version, change in enumerate(chain):
        assert members_at(chain, version) == set(states[version].names)
        if change.kind in (ChangeKind.REMOVE, ChangeKind.LEAVE):
            gone = change.member or change.author
            assert is_member_at(chain, version - 1, gone)
            # Not a member from its removal until (if ever) it is added again.
            for later in range(version, len(chain)):
                if chain[later].kind is ChangeKind.ADD and chain[later].member == gone:
                    break
                assert not is_member_at(chain, later, gone)
        if change.kind is ChangeKind.ADD:
            assert change.member is not None
            assert not is_member_at(chain, version - 1, change.member)
            assert is_member_at(chain, version, change.member)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64), st.randoms(use_true_random=False))
def test_members_leaves_forked_anywhere_never_undo_an_admins_change(
    seed: int, rng: random.Random
) -> None:
    """Whatever leaves members who are no admins sign, wherever in the past they fork and
    however many collude: the chain keeps every admin's change it had, in place; and the
    chain is still the same whatever order the changes are learnt in."""
    scenario = Scenario(seed)
    gid = scenario.genesis.group
    _, chain = canonical(scenario.changes, verify, group=gid)
    attacked = [*scenario.changes, *forked_leaves(rng, scenario.changes, gid)]
    _, after = canonical(attacked, verify, group=gid)
    kept = admins_part(chain)
    assert after[: len(kept)] == kept
    rng.shuffle(attacked)
    assert canonical(attacked, verify, group=gid)[1] == after


def test_the_attacks_would_undo_admins_changes_under_the_smallest_hash_rule() -> None:
    """The property above can fail: under the rule it replaces (the smallest hash at every
    fork) the same leaves often undo admins' changes."""
    undone = 0
    for seed in range(60):
        scenario = Scenario(seed)
        gid = scenario.genesis.group
        before = smallest_hash_chain(scenario.changes, gid)
        attack = forked_leaves(random.Random(seed), scenario.changes, gid)
        after = smallest_hash_chain([*scenario.changes, *attack], gid)
        kept = admins_part(before)
        undone += after[: len(kept)] != kept
    assert undone > 10


def test_scenarios_do_fork_forge_and_trespass() -> None:
    """The property tests are only as good as the scenarios: make sure they hold what they
    claim (forks, forged and unauthorized changes, long chains)."""
    forks = forged = trespass = longest = 0
    for seed in range(60):
        scenario = Scenario(seed)
        _, chain = canonical(scenario.changes, verify, group=scenario.genesis.group)
        updates = [c for c in scenario.changes if c.kind is not ChangeKind.CREATE]
        forks += any(len(c) > 1 for c in _children(updates).values())
        forged += bool(scenario.forged)
        trespass += bool(scenario.unauthorized)
        longest = max(longest, len(chain))
    assert forks > 20
    assert forged > 20
    assert trespass > 20
    assert longest >= 8


def test_a_departure_carries_its_cut_in_what_is_signed() -> None:
    state = genesis(create(), verify)
    bare = follow(state, ChangeKind.LEAVE, "bob")
    cut = follow(state, ChangeKind.LEAVE, "bob", upto=7)
    assert b'"upto":7' in cut.signed_bytes() and b"upto" not in bare.signed_bytes()
    assert cut.hash() != bare.hash()
    assert departure_cut([create(), cut], 0, "bob") == 7
    assert departure_cut([create(), cut], 0, "carol") is None
    assert departure_cut([create(), bare], 0, "bob") is None  # an old change: no cut
