"""What the desktop app says about groups, in words: membership lines, per-member delivery,
the header's member line, every one bounded. No Tk."""

from __future__ import annotations

from chinwag.adapters.gui.group_words import (
    MAX_LISTED,
    MemberDelivery,
    change_line,
    delivery_words,
    listed,
    member_line,
    merge,
    notice_id,
    notice_rows,
    shorten,
)
from chinwag.domain.group import ChangeKind
from chinwag.domain.message import MessageState
from tests.unit.presenter_groups_support import GENESIS, create, then


def test_every_kind_of_change_has_its_line_from_anybodys_point_of_view() -> None:
    add = then(GENESIS, ChangeKind.ADD, "alice", 1, member="erin")
    admin = then(add, ChangeKind.ADMIN, "alice", 2, member="bob")
    remove = then(admin, ChangeKind.REMOVE, "bob", 3, member="alice")
    leave = then(remove, ChangeKind.LEAVE, "carol", 4)
    rename = then(leave, ChangeKind.RENAME, "bob", 5, name="x" * 64)
    assert [change_line(c, "bob") for c in (GENESIS, add, admin, remove, leave, rename)] == [
        "alice created the group “Trip” with you, carol and dave",
        "alice added erin",
        "alice made you an admin",
        "You removed alice",
        "carol left the group",
        f"You renamed the group to “{'x' * 31}…”",
    ]
    assert change_line(then(GENESIS, ChangeKind.ADD, "alice", 1, member="bob"), "bob") == (
        "alice added you"
    )


def test_lines_are_one_per_change_and_merge_by_time() -> None:
    rows = notice_rows([GENESIS, GENESIS], "alice")
    assert rows[0].id == notice_id(GENESIS) == rows[1].id
    late = notice_rows([then(GENESIS, ChangeKind.LEAVE, "bob", 99)], "alice")
    assert [r.notice for r in merge([], late)] == [True]


def test_a_big_groups_missing_members_are_counted_past_a_few() -> None:
    deliveries = {f"m{n:03}": MemberDelivery(MessageState.SENT) for n in range(200)}
    tally, detail = delivery_words(deliveries, lambda name, reason: f"{name} waits")
    assert tally == "0/200"
    lines = detail.split("\n")
    assert len(lines) == MAX_LISTED + 2
    assert lines[-1] == f"and {200 - MAX_LISTED} more not delivered yet"
    assert delivery_words({}, lambda n, r: "") == (
        "",
        "Nobody else was in the group when you sent it",
    )
    assert delivery_words({"bob": MemberDelivery(MessageState.DELIVERED)}, lambda n, r: "") == (
        "",
        "Delivered to bob",
    )


def test_long_names_are_bounded_everywhere_they_show() -> None:
    assert shorten("a" * 64) == "a" * 31 + "…"
    assert shorten("two  words\u3000here") == "two words here"
    names = [f"someone-with-a-long-name-{n:02}" for n in range(40)]
    line = member_line(names, {names[0]}, "alice", left=False)
    assert line.startswith("40 members: someone-with-a-long-name-00 (admin)")
    assert len(line) <= 90


def test_a_list_past_its_limit_says_it_goes_on_then_counts_the_rest() -> None:
    assert [listed(list("abc"[:n])) for n in range(4)] == ["", "a", "a and b", "a, b and c"]
    names = [f"n{n}" for n in range(12)]
    assert listed(names[:4], 4) == "n0, n1, n2 and n3"
    assert listed(names[:5], 4) == "n0, n1, n2, … and 2 more"
    assert listed(names).endswith(f"n{MAX_LISTED - 2}, … and {12 - MAX_LISTED + 1} more")
    assert listed(names, 3) == "n0, n1, … and 10 more"
    assert listed(names, 1) == "12 people"
    crowd = create(members=[f"m{n}" for n in range(20)])
    assert change_line(crowd, "m0") == (
        "alice created the group “Trip” with you, m1, m2, m3, m4, m5, m6, … and 13 more"
    )
