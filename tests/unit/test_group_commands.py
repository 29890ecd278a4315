"""Group commands as scripts and people type them: JSON lines (the issue's Contract) and the
terminal's ``/group``, ``/groups`` and ``/g``."""

from __future__ import annotations

import json
import re
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.console.commands import (
    BadCommand,
    GroupCreate,
    GroupLeave,
    GroupMember,
    GroupRename,
    GroupsList,
    History,
    Send,
)
from chinwag.adapters.console.json_commands import BadJsonCommand, parse_json_line
from chinwag.adapters.console.text_commands import ForGroup, TextState, parse_text_command

GID = uuid4()


def parsed(**fields: object) -> object:
    return parse_json_line(json.dumps(fields)).command


def test_every_group_command_of_the_contract_parses() -> None:
    assert parsed(cmd="group_create", name="Friends", members=["bob", "carol"]) == GroupCreate(
        cmd="group_create", name="Friends", members=("bob", "carol")
    )
    for cmd in ("group_add", "group_remove", "group_admin"):
        assert parsed(cmd=cmd, group=str(GID), member="bob") == GroupMember(
            cmd=cmd,
            group=GID,
            member="bob",
        )
    assert parsed(cmd="group_leave", group=str(GID)) == GroupLeave(cmd="group_leave", group=GID)
    assert parsed(cmd="group_rename", group=str(GID), name="New") == GroupRename(
        cmd="group_rename", group=GID, name="New"
    )
    assert parsed(cmd="groups") == GroupsList(cmd="groups")


def test_send_and_history_take_a_person_or_a_group() -> None:
    send = parsed(cmd="send", group=str(GID), body="hi all")
    assert isinstance(send, Send) and (send.group, send.to, send.body) == (GID, None, "hi all")
    history = parsed(cmd="history", group=str(GID), limit=10)
    assert isinstance(history, History) and (history.group, history.with_) == (GID, None)
    direct = parsed(cmd="send", to="bob", body="hi")
    assert isinstance(direct, Send) and (direct.to, direct.group) == ("bob", None)


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ({"cmd": "send", "body": "x"}, "'to' (a name) or 'group'"),
        ({"cmd": "send", "to": "bob", "group": str(GID), "body": "x"}, "one of them"),
        ({"cmd": "history", "limit": 5}, "'with' (a name) or 'group'"),
        ({"cmd": "send", "group": "not-an-id", "body": "x"}, "'group' must be a group id"),
        ({"cmd": "group_add", "group": str(GID)}, "group_add needs 'member'"),
        ({"cmd": "group_create", "name": "x", "members": "bob"}, "'members' must be a list"),
        ({"cmd": "group_create", "name": "x", "members": ["bob", 3]}, "a list of names"),
        ({"cmd": "group_leave"}, "group_leave needs 'group'"),
        ({"cmd": "groups", "group": str(GID)}, 'groups does not take "group"'),
    ],
)
def test_bad_group_commands_are_refused_in_words_with_their_ref(
    command: dict[str, object], says: str
) -> None:
    with pytest.raises(BadJsonCommand, match=re.escape(says)) as refused:
        parse_json_line(json.dumps({**command, "ref": 7}))
    assert refused.value.ref is not None and refused.value.ref.json == "7"  # type: ignore[union-attr]


def text(line: str, state: TextState | None = None) -> object:
    return parse_text_command(line, state or TextState())


def test_the_terminal_group_commands() -> None:
    assert text("/groups") == GroupsList(cmd="groups")
    assert text('/group new "Book club" bob carol') == ForGroup(
        action="new", group="Book club", people=("bob", "carol")
    )
    assert text("/group add friends dave") == ForGroup(
        action="add", group="friends", argument="dave"
    )
    assert text("/group leave friends") == ForGroup(action="leave", group="friends")
    assert text("/group rename friends 'Old friends'") == ForGroup(
        action="rename", group="friends", argument="Old friends"
    )
    assert text("/g friends hello  there") == ForGroup(
        action="send", group="friends", argument="hello  there"
    )


@pytest.mark.parametrize(
    "line", ["/group", "/group add friends", "/group new", "/group frobnicate x y", '/group new "x']
)
def test_unclear_group_lines_say_how_to_write_them(line: str) -> None:
    with pytest.raises(BadCommand, match="usage: /group new NAME PEOPLE"):
        text(line)


def test_plain_lines_go_to_the_current_group() -> None:
    group = UUID(int=5)
    line = text("hello group", TextState(group=group))
    assert isinstance(line, Send) and (line.group, line.to) == (group, None)
    with pytest.raises(BadCommand, match="/g GROUP TEXT"):
        text("nobody chosen yet")


@pytest.mark.parametrize(
    ("line", "group", "body"),
    [
        ('/g "Book club" see  you', "Book club", "see  you"),
        ("/g 'Book club'   hi", "Book club", "hi"),
        ("/g bob's hi", "bob's", "hi"),  # unquoted: an apostrophe is a letter
        ('/g "say \\"hi\\"" ok', 'say "hi"', "ok"),
        ("/g friends\nhello", "friends", "hello"),
    ],
)
def test_slash_g_takes_a_quoted_group_name_as_slash_group_does(
    line: str, group: str, body: str
) -> None:
    assert text(line) == ForGroup(action="send", group=group, argument=body)


@pytest.mark.parametrize("line", ['/g "Book club"', '/g "" hi', "/g friends", "/g"])
def test_slash_g_without_a_group_or_a_text_says_how_to_write_it(line: str) -> None:
    with pytest.raises(BadCommand, match=re.escape('usage: /g GROUP TEXT ("quotes" around')):
        text(line)


def test_slash_g_with_an_unclosed_quote_says_so() -> None:
    with pytest.raises(BadCommand, match="No closing quotation: usage: /g GROUP TEXT"):
        text('/g "Book club hi')
