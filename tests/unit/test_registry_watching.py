"""The client's watch list: what a registration carries, and what the current link was not
told yet (names watched while it was being made)."""

from __future__ import annotations

from chinwag.adapters.registry.watching import WatchList, batches
from chinwag.domain.registry.presence import MAX_REGISTER_WATCH, MAX_WATCH_REQUEST


def test_a_registration_carries_the_first_names_and_requests_carry_the_rest() -> None:
    watching = WatchList()
    names = [f"u{n:04}" for n in range(MAX_REGISTER_WATCH + MAX_WATCH_REQUEST + 3)]
    assert watching.add([*names, "not a name", "U0000"]) == names
    first, rest = watching.at_registration(3)
    assert first == names[:MAX_REGISTER_WATCH]
    assert [len(batch) for batch in rest] == [MAX_WATCH_REQUEST, 3]
    assert watching.untold() == []  # all of them went with the registration
    assert watching.at_registration(2) == (None, [])  # a version 2 registry hears no list


def test_names_watched_while_a_link_was_made_are_untold_once() -> None:
    watching = WatchList()
    watching.add(["alice"])
    watching.at_registration(3)
    watching.add(["bob", "carol"])  # while the register was on its way
    assert watching.untold() == ["bob", "carol"]
    assert watching.untold() == []
    watching.remove(["bob"])
    watching.add(["bob"])  # watched again: the link no longer watches it
    assert watching.untold() == ["bob"]


def test_batches_are_sorted_and_bounded() -> None:
    assert batches(["b", "a", "c"], size=2) == [["a", "b"], ["c"]]
    assert batches([]) == []
