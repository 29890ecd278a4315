"""The terminal client's commands for people: slash commands, and plain lines to the current
conversation."""

from __future__ import annotations

import io
import shlex
import unicodedata
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from chinwag.adapters.console.commands import (
    AnyCommand,
    BadCommand,
    Doctor,
    GroupsList,
    History,
    Quit,
    Search,
    Send,
    Trust,
    Verify,
    WatchCommand,
    Who,
    WhoAmICommand,
)
from chinwag.adapters.console.text_files import (
    FILE_COMMAND_NAMES,
    FILE_HELP,
    FileLine,
    parse_file_line,
)
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import normalize_username

_COMMANDS = f"""Commands:
  /msg NAME TEXT     send TEXT to NAME; plain lines then go to NAME too
  /msg NAME          talk to NAME: plain lines go to NAME from now on
  /who               who is online among the people you watch (contacts, chats, groups)
  /who PREFIX        everyone online whose name starts with PREFIX
  /watch NAME...     be told when these people come and go; /unwatch NAME... to stop
  /history NAME [N]  the last N (default 20) messages with NAME
  /search TEXT       messages containing every word of TEXT
  /whoami            your name and your key's fingerprint
  /verify NAME [N]   the safety number with NAME; with the number they read you, mark verified
  /trust NAME FP     accept NAME's new key (its fingerprint FP) after a key change
  /doctor [NAME]     why you can or cannot be reached; with NAME, how you reach NAME now
  /groups            your groups, their members and admins
  /g GROUP TEXT      send TEXT to GROUP (its name or id, "quoted"); plain lines then go to GROUP
  /group new NAME PEOPLE...           a new group, with you as its admin ("quotes" for spaces)
  /group add|remove|admin GROUP NAME  change who is in GROUP, or make NAME an admin
  /group rename GROUP NAME            give GROUP a new name
  /group leave GROUP                  leave GROUP
{FILE_HELP}
  /clear             clear the screen
  /quit              sign out and leave (Ctrl-D too)
  /help              this help"""

_KEYS = """Keys:
  Enter              send the line (or run the command)
  Alt+Enter          a new line in the message (Esc then Enter does the same)
  Up, Down           earlier lines you typed (kept between sessions)
  Tab                complete a command or a name
  Ctrl-L             clear the screen
  Ctrl-C             clear the line; on an empty line, quit
  Ctrl-D             quit (on an empty line)
  Left, Right, Home, End, Ctrl-A, Ctrl-E, Ctrl-W, Ctrl-K, Ctrl-U: move and edit as in a shell
Pastes of any length are taken whole, newlines included; a message over 65536 bytes is
refused and stays in the line for you to shorten."""

_PLAIN = """One line is one message; lines with control characters (keys such as arrows or
Ctrl-L) are refused, not sent. Run chinwag-cli in a terminal (not TERM=dumb) for line editing,
history, completion and messages of several lines."""

HELP = f"{_COMMANDS}\n{_KEYS}"
"""Help in a full terminal (where the keys work)."""

PLAIN_HELP = f"{_COMMANDS}\n{_PLAIN}"
"""Help when reading lines from a pipe or a dumb terminal."""

COMMAND_NAMES = (
    "/msg",
    "/who",
    "/watch",
    "/unwatch",
    "/history",
    "/search",
    "/whoami",
    "/verify",
    "/trust",
    "/doctor",
    "/groups",
    "/g",
    "/group",
    *FILE_COMMAND_NAMES,
    "/clear",
    "/quit",
    "/help",
)
"""The commands as completion offers them (their short aliases work but are not offered)."""

NAME_COMMANDS = frozenset(
    {"msg", "m", "history", "h", "verify", "trust", "doctor", "watch", "unwatch"}
)
"""Commands whose first word is a person's name (completed from the people we know)."""


class Noop(BaseModel):
    """An empty line in text mode: nothing to do, nothing to complain about."""

    model_config = ConfigDict(frozen=True)

    cmd: Literal["noop"] = "noop"


class Clear(BaseModel):
    """``/clear``: clear the screen (a terminal only)."""

    model_config = ConfigDict(frozen=True)

    cmd: Literal["clear"] = "clear"


class TalkTo(BaseModel):
    """``/msg NAME`` with no text: plain lines go to ``name`` from now on."""

    model_config = ConfigDict(frozen=True)

    cmd: Literal["talk"] = "talk"
    name: str


class ForGroup(BaseModel):
    """A command about a group the person named as they know it (its name, or its id or the
    start of it): the runner finds the group, then runs the command for its id."""

    model_config = ConfigDict(frozen=True)

    cmd: Literal["for_group"] = "for_group"
    action: Literal["send", "add", "remove", "admin", "rename", "leave", "new"]
    group: str
    """How the person named the group (for ``new``: the new group's name)."""
    argument: str = ""
    """The message (``send``), the member (``add``, ``remove``, ``admin``) or the new name."""
    people: tuple[str, ...] = ()
    """The first members of a ``new`` group."""


TextCommand = AnyCommand | Noop | Clear | TalkTo | ForGroup | FileLine


@dataclass
class TextState:
    """The person's current conversation in text mode: a person, or a group (by id, with the
    name it was chosen by, to show)."""

    chatting_with: str | None = None
    group: UUID | None = None
    group_name: str = ""


def parse_text_command(line: str, state: TextState) -> TextCommand | None:
    """A slash command or a plain line as a command; ``None`` for help; BadCommand if unclear.

    ``state`` says who plain lines go to; the caller moves it once a ``/msg`` succeeds."""
    text = line.rstrip("\r\n")
    problem = control_character_problem(text)
    if problem is not None:
        raise BadCommand(problem)
    if not text.startswith("/"):
        if not text.strip():
            return Noop()
        if state.group is not None:
            return Send(cmd="send", group=state.group, body=text)
        if state.chatting_with is None:
            raise BadCommand("who to? start with /msg NAME TEXT or /g GROUP TEXT (see /help)")
        return Send(cmd="send", to=state.chatting_with, body=text)
    name, _, rest = text[1:].partition(" ")
    rest = rest.strip()
    match name.lower():
        case "msg" | "m":
            to, _, body = rest.partition(" ")
            if not to:
                raise BadCommand("usage: /msg NAME TEXT, or /msg NAME to talk to NAME")
            if not body.strip():
                return TalkTo(name=_valid_name(to))
            # The spaces after the name separate it from the text (completion adds one).
            return Send(cmd="send", to=to, body=body.lstrip(" "))
        case "who" | "w":
            words = rest.split()
            if len(words) > 1:
                raise BadCommand("usage: /who, or /who PREFIX (who is online whose name starts so)")
            return Who(cmd="who", prefix=words[0] if words else None)
        case "watch" | "unwatch" as action:
            if not rest:
                raise BadCommand(f"usage: /{action} NAME... (one or more names)")
            return WatchCommand(
                cmd="watch" if action == "watch" else "unwatch", names=tuple(rest.split())
            )
        case "history" | "h":
            parts = rest.split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise BadCommand("usage: /history NAME [N]")
            limit = int(parts[1]) if len(parts) == 2 else 20
            return History(cmd="history", with_=parts[0], limit=max(1, min(limit, 500)))
        case "search" | "s":
            if not rest:
                raise BadCommand("usage: /search TEXT")
            return Search(cmd="search", text=rest)
        case "quit" | "q" | "exit":
            return Quit(cmd="quit")
        case "whoami":
            return WhoAmICommand(cmd="whoami")
        case "verify":
            who, _, number = rest.partition(" ")
            if not who:
                raise BadCommand("usage: /verify NAME [NUMBER]")
            return Verify(cmd="verify", with_=who, number=number.strip() or None)
        case "trust":
            who, _, typed = rest.partition(" ")
            if not who or not typed.strip():
                raise BadCommand("usage: /trust NAME FINGERPRINT")
            return Trust(cmd="trust", with_=who, fingerprint=typed.strip())
        case "doctor":
            if len(rest.split()) > 1:
                raise BadCommand("usage: /doctor, or /doctor NAME")
            return Doctor(cmd="doctor", with_=rest or None)
        case "groups":
            return GroupsList(cmd="groups")
        case "g":
            group, body = _group_then_text(rest)
            if not group or not body.strip():
                raise BadCommand(_G_USAGE)
            return ForGroup(action="send", group=group, argument=body.lstrip(" "))
        case "group":
            return _group_command(rest)
        case "clear" | "cls":
            return Clear()
        case "help" | "?":
            return None
    file_line = parse_file_line(name.lower(), rest)
    if file_line is not None:
        return file_line
    raise BadCommand(f"unknown command /{name} (see /help)")


_GROUP_USAGE = (
    "usage: /group new NAME PEOPLE..., /group add|remove|admin GROUP NAME, "
    "/group rename GROUP NAME, /group leave GROUP"
)


_G_USAGE = 'usage: /g GROUP TEXT ("quotes" around a group name with spaces)'


def _group_then_text(rest: str) -> tuple[str, str]:
    """The group a ``/g`` line names first and the text after it, as typed.

    A quoted name (``"Book club"``, or with single quotes) is read as ``/group`` reads its
    words (shlex), so a name with spaces can be given; an unquoted one is the first word, so
    an apostrophe in it (``bob's``) is just a letter. The text is never parsed."""
    if not rest.startswith(("'", '"')):
        words = rest.split(None, 1)
        return (words[0], words[1]) if len(words) == 2 else (rest, "")
    typed = io.StringIO(rest)
    lexer = shlex.shlex(typed, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        group = lexer.get_token() or ""
    except ValueError as exc:  # an unclosed quote
        raise BadCommand(f"{exc}: {_G_USAGE}") from None
    return group, typed.read()  # what follows the space that ended the name, as typed


def _group_command(rest: str) -> ForGroup:
    try:
        words = shlex.split(rest)
    except ValueError as exc:  # an unclosed quote
        raise BadCommand(f"{exc}: {_GROUP_USAGE}") from None
    match words:
        case ["new", name, *people] if name.strip():
            return ForGroup(action="new", group=name, people=tuple(people))
        case ["add" | "remove" | "admin" as action, group, member]:
            return ForGroup(action=action, group=group, argument=member)
        case ["rename", group, name]:
            return ForGroup(action="rename", group=group, argument=name)
        case ["leave", group]:
            return ForGroup(action="leave", group=group)
    raise BadCommand(_GROUP_USAGE)


def _valid_name(raw: str) -> str:
    try:
        return normalize_username(raw)
    except InvalidUsername as exc:
        raise BadCommand(str(exc)) from None


def control_character_problem(text: str) -> str | None:
    """Why ``text`` may not be sent as typed, if it holds a control character; else ``None``.

    In a terminal without line editing, keys arrive as text: Ctrl-L before a command once sent
    ``\\x0c/help`` to the other person, and an arrow key sends ``\\x1b[D``. Such a line is
    refused, never sent. Tabs and newlines (Alt+Enter, a paste) are text."""
    for index, ch in enumerate(text):
        if ch in "\t\n" or unicodedata.category(ch) != "Cc":
            continue
        where = "at the start" if index == 0 else f"at column {index + 1}"
        return (
            f"not sent: the line holds {_key_name(ch)} {where}, a key the terminal passed on "
            "as text; type the line again"
        )
    return None


def _key_name(ch: str) -> str:
    code = ord(ch)
    if ch == "\x1b":
        return "Esc (\\x1b: an arrow or function key?)"
    if code < 0x20:
        return f"Ctrl-{chr(code + 0x40)} (\\x{code:02x})"
    return f"the control character \\x{code:02x}"
