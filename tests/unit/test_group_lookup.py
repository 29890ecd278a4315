"""How the terminal finds the group a person names (review finding 15): its id, else its name in
any case, else (only when nothing else matched) the start of its id; a group a stranger made,
whose id happens to start with a name the person uses, never takes that name's place."""

from __future__ import annotations

import asyncio
from typing import Any, cast
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import CommandRunner
from chinwag.adapters.console.group_names import pick_group
from chinwag.adapters.console.text_runner import TextCommands
from chinwag.application.use_cases.groups import Groups
from chinwag.application.use_cases.post_to_group import PostToGroup
from chinwag.domain.errors import UnknownGroup
from chinwag.domain.group import HASH_SIZE, Member
from chinwag.domain.group_log import GroupState
from tests.console_support import signed_in

CAFE = UUID("cafe0000-1111-4222-8333-444455556666")
"""A stranger's group: its id starts with "cafe"."""
MINE = UUID("0b0e0000-1111-4222-8333-444455556666")
"""The person's own group, named "cafe"."""


def state(group: UUID, name: str) -> GroupState:
    return GroupState(
        id=group,
        name=name,
        members=(Member(name="alice", key=bytes(32)),),
        admins=frozenset({"alice"}),
        version=0,
        head=bytes(HASH_SIZE),
    )


class FakeGroups:
    """The groups the person is in (``False``) or left (``True``)."""

    def __init__(self, *groups: tuple[GroupState, bool]) -> None:
        self._groups = list(groups)

    async def list(self) -> list[tuple[GroupState, bool]]:
        return list(self._groups)


class FakePost:
    """Records where each post went."""

    def __init__(self) -> None:
        self.posts: list[tuple[UUID, str]] = []

    async def execute(self, group: UUID, body: str) -> None:
        self.posts.append((group, body))


def runner(*groups: tuple[GroupState, bool], post: FakePost | None = None) -> CommandRunner:
    """A runner that can only find groups and post (the other use cases are never called)."""
    unused = cast(Any, None)
    _, output = signed_in()
    return CommandRunner(
        output,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        groups=cast(Groups, FakeGroups(*groups)),
        post=cast(PostToGroup, post),
    )


def find(named: str, *groups: tuple[GroupState, bool]) -> GroupState:
    return asyncio.run(runner(*groups).find_group(named))


def test_a_name_goes_before_a_start_of_id_that_matches_it() -> None:
    stranger, mine = state(CAFE, "Free stuff"), state(MINE, "Cafe")
    assert find("cafe", (stranger, False), (mine, False)) == mine
    assert find("CAFE", (mine, False), (stranger, False)) == mine
    assert find("cafe0", (stranger, False), (mine, False)) == stranger  # only the id matches


def test_an_id_goes_before_a_name_and_is_read_in_any_form() -> None:
    named_like_an_id = state(MINE, str(CAFE))
    stranger = state(CAFE, "Free stuff")
    assert find(str(CAFE), (named_like_an_id, False), (stranger, False)) == stranger
    assert find(CAFE.hex.upper(), (named_like_an_id, False), (stranger, False)) == stranger


def test_a_start_of_id_needs_four_characters_and_left_groups_are_not_found() -> None:
    stranger = state(CAFE, "Free stuff")
    with pytest.raises(UnknownGroup, match="no group called caf "):
        find("caf", (stranger, False))
    with pytest.raises(UnknownGroup, match=r"your groups: none yet"):
        find("cafe", (stranger, True))


def test_a_name_with_spaces_matches_however_it_is_spaced_and_cased() -> None:
    club = state(MINE, "Book  club")
    assert find("book club", (club, False)) == club
    assert find(" BOOK CLUB ", (club, False)) == club


def test_several_matches_are_listed_with_their_full_ids() -> None:
    one, two = state(CAFE, "Friends"), state(MINE, "friends")
    with pytest.raises(UnknownGroup) as refused:
        find("FRIENDS", (one, False), (two, False))
    said = str(refused.value)
    assert said.startswith("several of your groups match FRIENDS:")
    assert str(CAFE) in said and str(MINE) in said and said.endswith("use an id")
    twin = state(UUID("cafe0000-1111-4222-8333-777777777777"), "Other")
    with pytest.raises(UnknownGroup, match=f"Other \\({twin.id}\\)"):
        find("cafe0000", (one, False), (twin, False))


def test_slash_g_posts_to_the_group_named_not_to_a_stranger_whose_id_starts_so() -> None:
    post = FakePost()
    stranger, mine, club = (
        state(CAFE, "Free stuff"),
        state(MINE, "cafe"),
        state(UUID(int=9), "Book club"),
    )
    commands = TextCommands(
        signed_in()[1],
        runner((stranger, False), (mine, False), (club, False), post=post),
        terminal=False,
    )

    async def typed() -> None:
        await commands.handle("/g cafe hi there")
        await commands.handle("following on")
        await commands.handle('/g "book club" see  you')

    asyncio.run(typed())
    assert post.posts == [(MINE, "hi there"), (MINE, "following on"), (club.id, "see  you")]
    assert commands.state.group == club.id


def test_an_unknown_name_is_refused_listing_each_group_with_the_start_of_its_id() -> None:
    mine, other = state(MINE, "Book club"), state(CAFE, "Chess")
    with pytest.raises(UnknownGroup) as refused:
        find("Poker", (mine, False), (other, False))
    assert str(refused.value) == (
        f"you are in no group called Poker (your groups: Book club ({str(MINE)[:8]}), "
        "Chess (cafe0000))"
    )


def test_the_export_finds_groups_the_same_way() -> None:
    """``chinwag-cli export --group`` calls the same function with the history's groups."""
    stranger, mine = state(CAFE, "Free stuff"), state(MINE, "Cafe")
    assert pick_group("cafe", [stranger, mine]) == mine
    assert pick_group("cafe0", [stranger, mine]) == stranger
