"""The terminal client's file commands: ``/send FILE [NAME]``, ``/accept ID [DIR]``,
``/decline ID``, ``/cancel ID``, ``/transfers``.

Paths are read as a shell reads words (``"my report.pdf"``, ``my\\ report.pdf``) and may start
with ``~``. An ID is the start of a transfer's id, as the lines about it show it (8 hex
digits; fewer do when they name one transfer only). NAME is a person or one of your groups
(as ``/g`` finds them); a name that is both a group of yours and somebody you know is refused
as unclear, so a group someone else named after a friend of yours cannot catch a file meant
for the friend.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Callable, Iterable
from typing import Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from chinwag.adapters.console.commands import BadCommand, CommandRunner, with_hint
from chinwag.adapters.console.file_commands import (
    AcceptFileCommand,
    CancelFileCommand,
    DeclineFileCommand,
    FileCommand,
    SendFileCommand,
    TransfersList,
)
from chinwag.adapters.console.human import human_size
from chinwag.adapters.console.json_files import shown_name
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.text_transfers import short_id
from chinwag.application.files.status import TransferStatus
from chinwag.domain.errors import DomainError, InvalidUsername
from chinwag.domain.group_log import GroupState
from chinwag.domain.transfer import Direction
from chinwag.domain.user import normalize_username

FILE_HELP: Final = """\
  /send FILE [NAME]  offer FILE ("quoted" if it has spaces; ~ for your home) to NAME (a
                     person or a group), or to the current conversation
  /accept ID [DIR]   take the file offered as ID (the start of its id), into DIR or downloads
  /decline ID        say no to the file offered as ID
  /cancel ID         stop sending or receiving ID
  /transfers         files sent and received, and where each is"""

FILE_COMMAND_NAMES: Final = ("/send", "/accept", "/decline", "/cancel", "/transfers")

_USAGE: Final = {
    "send": 'usage: /send FILE [NAME] ("quotes" around a path with spaces)',
    "accept": "usage: /accept ID [DIR] (ID: the start of the transfer's id)",
    "decline": "usage: /decline ID",
    "cancel": "usage: /cancel ID",
    "transfers": "usage: /transfers",
}
_HEX: Final = frozenset(string.hexdigits + "-")


class FileLine(BaseModel):
    """A file command as typed: who and what are found when it runs."""

    model_config = ConfigDict(frozen=True)

    cmd: Literal["file_line"] = "file_line"
    action: Literal["send", "accept", "decline", "cancel", "transfers"]
    path: str | None = None
    """The file to send, or the folder to accept into (``~`` expanded)."""
    to: str | None = None
    """Whom to send to, as typed (None: the current conversation)."""
    id: str = ""
    """The start of the transfer's id, as typed."""


def parse_file_line(name: str, rest: str) -> FileLine | None:
    """The file command ``/name rest``; None if ``name`` is no file command."""
    if name not in _USAGE:
        return None
    try:
        words = shlex.split(rest)
    except ValueError as exc:  # an unclosed quote
        raise BadCommand(f"{exc}: {_USAGE[name]}") from None
    match name, words:
        case "send", [path] | [path, _] if path:
            to = words[1] if len(words) == 2 else None
            return FileLine(action="send", path=os.path.expanduser(path), to=to)
        case "accept", [tid] | [tid, _]:
            folder = os.path.expanduser(words[1]) if len(words) == 2 else None
            return FileLine(action="accept", id=_id_start(tid), path=folder)
        case "decline", [tid]:
            return FileLine(action="decline", id=_id_start(tid))
        case "cancel", [tid]:
            return FileLine(action="cancel", id=_id_start(tid))
        case "transfers", []:
            return FileLine(action="transfers")
    raise BadCommand(_USAGE[name])


def _id_start(typed: str) -> str:
    if not typed or not set(typed) <= _HEX:
        raise BadCommand(
            f"{typed!r} is not a transfer's id: give its start, in hex digits, as the lines "
            "about it show it (/transfers lists them)"
        )
    return typed.replace("-", "").lower()


class NoSuchTransfer(DomainError):
    """No transfer's id starts with the digits given."""

    code = "unknown_transfer"


class AmbiguousTransfer(DomainError):
    """Several transfers' ids start with the digits given."""

    code = "ambiguous_transfer"


def find_transfer(
    typed: str, statuses: Iterable[TransferStatus], direction: Direction | None = None
) -> UUID:
    """The one transfer (of ``direction``, if given) whose id starts with ``typed``."""
    matches: dict[UUID, TransferStatus] = {}
    for status in statuses:
        transfer = status.transfer
        if direction is not None and transfer.direction is not direction:
            continue
        if transfer.id.hex.startswith(typed):
            matches.setdefault(transfer.id, status)
    kind = {Direction.IN: "incoming ", Direction.OUT: "outgoing ", None: ""}[direction]
    going = {tid: status for tid, status in matches.items() if not status.transfer.final}
    if len(matches) > 1 and len(going) == 1:  # the others are over: nothing to do with them
        return next(iter(going))
    if not matches:
        raise NoSuchTransfer(f"no {kind}transfer's id starts with {typed} (see /transfers)")
    if len(matches) > 1:
        listed = ", ".join(
            f"{short_id(tid)} {shown_name(status.transfer)}"
            for tid, status in list(matches.items())[:5]
        )
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise AmbiguousTransfer(
            f"{len(matches)} {kind}transfers' ids start with {typed}: {listed}{more}; "
            "type more of the id"
        )
    return next(iter(matches))


async def run_file_line(
    line: FileLine,
    runner: CommandRunner,
    output: ConsoleOutput,
    conversation: tuple[str | None, UUID | None],
    people: Callable[[], list[str]],
) -> None:
    """Find what ``line`` names (the person or group, the transfer), then run it.

    ``conversation``: who plain lines go to now (a person, or a group's id); ``people``: the
    names the user knows (a group of the same name is then unclear)."""
    try:
        command = await _resolved(line, runner, conversation, people)
    except BadCommand as exc:
        output.error("bad_command", str(exc))
        return
    except DomainError as exc:
        output.error(exc.code, with_hint(exc))
        return
    if isinstance(command, SendFileCommand):
        say_if_big(command.path, output)
    await runner.run(command)


BIG_FILE = 256 * 1024 * 1024
"""Files from this size are said to be read before they are offered (a second a GiB)."""


def say_if_big(path: str, output: ConsoleOutput) -> None:
    """A big file is read whole (hashed) before its offer goes: say so, or the prompt looks
    as if nothing happened for seconds."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return  # the send says what is wrong with it
    if size >= BIG_FILE:
        output.info(f"* reading {os.path.basename(path)} ({human_size(size)}) to offer it…")


async def _resolved(
    line: FileLine,
    runner: CommandRunner,
    conversation: tuple[str | None, UUID | None],
    people: Callable[[], list[str]],
) -> FileCommand:
    match line.action:
        case "send":
            assert line.path is not None
            to, group = await _recipient(line.to, runner, conversation, people)
            return SendFileCommand(cmd="send_file", path=line.path, to=to, group=group)
        case "transfers":
            return TransfersList(cmd="transfers")
    direction = None if line.action == "cancel" else Direction.IN
    tid = find_transfer(line.id, await runner.list_transfers(), direction)
    if line.action == "accept":
        return AcceptFileCommand(cmd="accept_file", id=tid, dir=line.path)
    if line.action == "decline":
        return DeclineFileCommand(cmd="decline_file", id=tid)
    return CancelFileCommand(cmd="cancel_file", id=tid)


async def _recipient(
    typed: str | None,
    runner: CommandRunner,
    conversation: tuple[str | None, UUID | None],
    people: Callable[[], list[str]],
) -> tuple[str | None, UUID | None]:
    """``(person, None)`` or ``(None, group id)``: whom ``/send`` names, or the conversation."""
    if typed is None:
        person, group = conversation
        if person is None and group is None:
            raise BadCommand("who to? /send FILE NAME, or pick a conversation first (/msg NAME)")
        return (None, group) if group is not None else (person, None)
    person = _person(typed)
    try:
        found: GroupState | None = await runner.find_group(typed)
    except DomainError:  # no such group (or no groups in this client): a person, then
        found = None
    if found is not None and person is not None and person in people():
        raise BadCommand(
            f"{typed} is both a person you know and one of your groups ({found.name}): to "
            f"send to the group, name it by its id ({found.id}); to the person, write to them "
            f"first (/msg {person}) and /send FILE with no name"
        )
    if found is not None:
        return None, found.id
    if person is None:
        raise BadCommand(
            f"{typed!r} is neither a person's name nor one of your groups (a path with spaces "
            'goes in "quotes")'
        )
    return person, None


def _person(typed: str) -> str | None:
    try:
        return normalize_username(typed)
    except InvalidUsername:
        return None
