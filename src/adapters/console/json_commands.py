"""``chinwag-cli --json``: one command line read as JSON and checked field by field.

The checks are written out here rather than left to pydantic so that every refusal is a sentence
of ours that names the field and says what it takes ("send needs 'to' (a name)"), never a
validator's wording, and so that the command's ``ref`` is known even when the rest is wrong: the
``error`` event then echoes it, and a script can tell which of its commands was refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from chinwag.adapters.console.commands import (
    AnyCommand,
    BadCommand,
    History,
    Quit,
    Search,
    Send,
    Trust,
    Verify,
    Who,
    WhoAmICommand,
)


class _NoRef:
    """The ``ref`` of a command that gave none (``null`` is a ref like any other value)."""

    def __repr__(self) -> str:
        return "NO_REF"


NO_REF: Final[Any] = _NoRef()

MAX_SHORT_TEXT: Final = 200
"""The longest safety number or fingerprint a command may carry."""

COMMANDS: Final = ("send", "who", "history", "search", "whoami", "verify", "trust", "quit")

USAGE: Final = {
    "send": '{"cmd": "send", "to": NAME, "body": TEXT}',
    "who": '{"cmd": "who"}',
    "history": '{"cmd": "history", "with": NAME, "limit": N, "before": ID}',
    "search": '{"cmd": "search", "text": TEXT, "limit": N}',
    "whoami": '{"cmd": "whoami"}',
    "verify": '{"cmd": "verify", "with": NAME, "number": DIGITS}',
    "trust": '{"cmd": "trust", "with": NAME, "fingerprint": FP}',
    "quit": '{"cmd": "quit"}',
}


class BadJsonCommand(BadCommand):
    """A command line that cannot be run, and the ``ref`` it carried (if it was readable)."""

    def __init__(self, text: str, ref: Any = NO_REF) -> None:
        super().__init__(text)
        self.ref = ref


@dataclass(frozen=True, slots=True)
class JsonCommand:
    command: AnyCommand
    ref: Any = NO_REF


@dataclass(frozen=True, slots=True)
class _Field:
    what: str
    """What the field takes, as said in a refusal: "a name", "a whole number from 1 to 500"."""
    check: Callable[[Any], bool]
    required: bool = True


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _name(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_SHORT_TEXT


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= high

    return check


def _message_id(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


_NAME = _Field("a name", _name)
_FIELDS: Final[Mapping[str, Mapping[str, _Field]]] = {
    "send": {"to": _NAME, "body": _Field("text", _text)},
    "who": {},
    "history": {
        "with": _NAME,
        "limit": _Field("a whole number from 1 to 500", _whole(1, 500), required=False),
        "before": _Field('a message id (as in a message\'s "id")', _message_id, required=False),
    },
    "search": {
        "text": _Field("text", _text),
        "limit": _Field("a whole number from 1 to 200", _whole(1, 200), required=False),
    },
    "whoami": {},
    "verify": {
        "with": _NAME,
        "number": _Field(
            f"the safety number, at most {MAX_SHORT_TEXT} characters", _short_text, required=False
        ),
    },
    "trust": {
        "with": _NAME,
        "fingerprint": _Field(f"a fingerprint, at most {MAX_SHORT_TEXT} characters", _short_text),
    },
    "quit": {},
}

_COMMAND_LIST: Final = ", ".join(COMMANDS)


def parse_json_line(line: str | bytes) -> JsonCommand:
    """The command of one line, with its ``ref``; :class:`BadJsonCommand` says what is wrong."""
    try:
        data = json.loads(line)
    except UnicodeDecodeError:
        raise BadJsonCommand("not UTF-8 text: a command is one line of JSON") from None
    except json.JSONDecodeError as exc:
        raise BadJsonCommand(
            f"not JSON: {exc.msg} at column {exc.colno} "
            '(one command per line, e.g. {"cmd": "who"})'
        ) from None
    if not isinstance(data, dict):
        raise BadJsonCommand('a command is a JSON object, e.g. {"cmd": "who"}')
    ref = data.pop("ref", NO_REF)
    if "cmd" not in data:
        raise BadJsonCommand(f'a command needs "cmd" (commands: {_COMMAND_LIST})', ref)
    cmd = data.pop("cmd")
    fields = _FIELDS.get(cmd) if isinstance(cmd, str) else None
    if fields is None:
        shown = json.dumps(cmd, ensure_ascii=False)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        raise BadJsonCommand(f"unknown command {shown} (commands: {_COMMAND_LIST})", ref)
    for key, value in data.items():
        spec = fields.get(key)
        if spec is None:
            takes = ", ".join([*fields, "ref"])
            raise BadJsonCommand(
                f"{cmd} does not take {json.dumps(key, ensure_ascii=False)} (it takes: {takes}): "
                f"{USAGE[cmd]}",
                ref,
            )
        if not spec.check(value):
            raise BadJsonCommand(f"'{key}' must be {spec.what}: {USAGE[cmd]}", ref)
    for key, spec in fields.items():
        if spec.required and key not in data:
            raise BadJsonCommand(f"{cmd} needs '{key}' ({spec.what}): {USAGE[cmd]}", ref)
    return JsonCommand(_build(cmd, data), ref)


def _build(cmd: str, data: dict[str, Any]) -> AnyCommand:
    """The command's model from fields already checked (so no validator can refuse them)."""
    if cmd == "send":  # the hot path: skip validating again what was just checked
        return Send.model_construct(cmd="send", to=data["to"], body=data["body"])
    if cmd == "history":
        before = data.get("before")
        return History(
            cmd="history",
            with_=data["with"],
            limit=data.get("limit", 50),
            before=None if before is None else UUID(before),
        )
    if cmd == "search":
        return Search(cmd="search", text=data["text"], limit=data.get("limit", 50))
    if cmd == "verify":
        return Verify(cmd="verify", with_=data["with"], number=data.get("number"))
    if cmd == "trust":
        return Trust(cmd="trust", with_=data["with"], fingerprint=data["fingerprint"])
    if cmd == "who":
        return Who(cmd="who")
    if cmd == "whoami":
        return WhoAmICommand(cmd="whoami")
    return Quit(cmd="quit")
