"""``chinwag-cli --json``: one command line read as JSON and checked field by field.

The checks are written out here rather than left to pydantic so that every refusal is a sentence
of ours that names the field and says what it takes ("send needs 'to' (a name)"), never a
validator's wording, and so that the command's ``ref`` is known even when the rest is wrong: the
``error`` event then echoes it, and a script can tell which of its commands was refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from chinwag.adapters.console.commands import (
    AnyCommand,
    BadCommand,
    Doctor,
    GroupCreate,
    GroupLeave,
    GroupMember,
    GroupRename,
    GroupsList,
    History,
    Quit,
    Search,
    Send,
    Trust,
    Verify,
    WhoAmICommand,
)
from chinwag.adapters.console.json_fields import GROUP_ID, is_names
from chinwag.adapters.console.json_fields import JsonField as _Field
from chinwag.adapters.console.json_fields import is_name as _name
from chinwag.adapters.console.json_fields import is_text as _text
from chinwag.adapters.console.json_fields import is_uuid as _uuid
from chinwag.adapters.console.json_files import (
    FILE_COMMANDS,
    FILE_FIELDS,
    FILE_ONE_OF,
    FILE_USAGE,
    build_file_command,
)
from chinwag.adapters.console.json_presence import (
    PRESENCE_FIELDS,
    PRESENCE_ONLY_WITH,
    PRESENCE_USAGE,
    build_presence_command,
)


class _NoRef:
    """The ``ref`` of a command that gave none (``null`` is a ref like any other value)."""

    def __repr__(self) -> str:
        return "NO_REF"


NO_REF: Final[Any] = _NoRef()

MAX_REF_BYTES: Final = 1024
"""The longest ``ref``, as JSON text: it is kept until its message settles, so a script
could otherwise make us hold gigabytes of refs for messages to somebody offline."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A command's ``ref``, kept as the JSON text it is echoed as: serialised once when the
    command is read (not again for every event that carries it), and small (see
    :data:`MAX_REF_BYTES`) however large the value a script could build."""

    json: str


def make_ref(value: Any) -> Ref:
    """``value`` (a parsed JSON value) as a :class:`Ref`; :class:`BadJsonCommand` (with no ref
    echoed) when it is too long or not text."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except (UnicodeEncodeError, ValueError, RecursionError):
        raise BadJsonCommand(
            'a ref must be plain JSON text (no lone UTF-16 surrogate such as "\\ud800")'
        ) from None
    if size > MAX_REF_BYTES:
        raise BadJsonCommand(f"a ref is at most {MAX_REF_BYTES:,} bytes of JSON")
    return Ref(text)


MAX_SHORT_TEXT: Final = 200
"""The longest safety number or fingerprint a command may carry."""

COMMANDS: Final = (
    "send",
    "who",
    "watch",
    "unwatch",
    "history",
    "search",
    "whoami",
    "verify",
    "trust",
    "doctor",
    "group_create",
    "group_add",
    "group_remove",
    "group_admin",
    "group_leave",
    "group_rename",
    "groups",
    *FILE_COMMANDS,
    "quit",
)

USAGE: Final = {
    "send": '{"cmd": "send", "to": NAME, "body": TEXT} (or "group": GID instead of "to")',
    **PRESENCE_USAGE,
    "history": '{"cmd": "history", "with": NAME, "limit": N, "before": ID} (or "group": GID '
    'instead of "with")',
    "search": '{"cmd": "search", "text": TEXT, "limit": N}',
    "whoami": '{"cmd": "whoami"}',
    "verify": '{"cmd": "verify", "with": NAME, "number": DIGITS}',
    "trust": '{"cmd": "trust", "with": NAME, "fingerprint": FP}',
    "doctor": '{"cmd": "doctor"} (yourself) or {"cmd": "doctor", "with": NAME}',
    "group_create": '{"cmd": "group_create", "name": TEXT, "members": [NAMES]}',
    "group_add": '{"cmd": "group_add", "group": GID, "member": NAME}',
    "group_remove": '{"cmd": "group_remove", "group": GID, "member": NAME}',
    "group_admin": '{"cmd": "group_admin", "group": GID, "member": NAME}',
    "group_leave": '{"cmd": "group_leave", "group": GID}',
    "group_rename": '{"cmd": "group_rename", "group": GID, "name": TEXT}',
    "groups": '{"cmd": "groups"}',
    "quit": '{"cmd": "quit"}',
    **FILE_USAGE,
}

ONE_OF: Final = {"send": ("to", "group"), "history": ("with", "group"), **FILE_ONE_OF}
"""Commands that take exactly one of two fields: a person or a group."""

ONLY_WITH: Final = {**PRESENCE_ONLY_WITH}
"""Fields that mean something only beside another: ``(field, the one it needs)``."""

MAX_MEMBERS_LISTED: Final = 1024
"""The longest ``members`` list read (a group holds far fewer; the use case says how many)."""


class BadJsonCommand(BadCommand):
    """A command line that cannot be run, and the ``ref`` it carried (if it was readable)."""

    def __init__(self, text: str, ref: Ref | _NoRef = NO_REF) -> None:
        super().__init__(text)
        self.ref = ref


class _NotJsonNumber(ValueError):
    """A number JSON has no room for: NaN, Infinity, or one too large for a double."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonNumber(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJsonNumber(f"the number {text[:20]} is too large")
    return value


_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
"""What a line holding a lone surrogate must contain (JSON text in UTF-8 cannot hold one raw)."""


def _lone_surrogate(value: Any) -> bool:
    """Whether ``value`` (parsed JSON) holds a string with a lone UTF-16 surrogate, which is
    not text: written out as UTF-8 it would be invalid bytes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(item) for item in value)
    return False


@dataclass(frozen=True, slots=True)
class JsonCommand:
    command: AnyCommand
    ref: Ref | _NoRef = NO_REF


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_SHORT_TEXT


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= high

    return check


def _message_id(value: Any) -> bool:
    return value is None or _uuid(value)


def _names(value: Any) -> bool:
    return is_names(value, MAX_MEMBERS_LISTED)


_NAME = _Field("a name", _name)
_GROUP = _Field(GROUP_ID, _uuid)
_FIELDS: Final[Mapping[str, Mapping[str, _Field]]] = {
    "send": {
        "to": _Field("a name", _name, required=False),
        "group": _Field(_GROUP.what, _uuid, required=False),
        "body": _Field("text", _text),
    },
    "history": {
        "with": _Field("a name", _name, required=False),
        "group": _Field(_GROUP.what, _uuid, required=False),
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
    "doctor": {"with": _Field("a name", _name, required=False)},
    "group_create": {
        "name": _Field("text (the group's name)", _text),
        "members": _Field(
            f"a list of names (at most {MAX_MEMBERS_LISTED})", _names, required=False
        ),
    },
    "group_add": {"group": _GROUP, "member": _NAME},
    "group_remove": {"group": _GROUP, "member": _NAME},
    "group_admin": {"group": _GROUP, "member": _NAME},
    "group_leave": {"group": _GROUP},
    "group_rename": {"group": _GROUP, "name": _Field("text (the group's new name)", _text)},
    "groups": {},
    "quit": {},
    **PRESENCE_FIELDS,
    **FILE_FIELDS,
}

_COMMAND_LIST: Final = ", ".join(COMMANDS)


def parse_json_line(line: str | bytes) -> JsonCommand:
    """The command of one line, with its ``ref``; :class:`BadJsonCommand` says what is wrong."""
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
    try:
        data = _DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadJsonCommand("not UTF-8 text: a command is one line of JSON") from None
    except json.JSONDecodeError as exc:
        raise BadJsonCommand(
            f"not JSON: {exc.msg} at column {exc.colno} "
            '(one command per line, e.g. {"cmd": "who"})'
        ) from None
    except _NotJsonNumber as exc:
        raise BadJsonCommand(f"not a number we can echo: {exc} (JSON numbers are finite)") from None
    except RecursionError:
        raise BadJsonCommand("not a command: the JSON is nested too deeply") from None
    except ValueError:  # Python's limit on the digits of an integer
        raise BadJsonCommand(
            "not a command: the JSON holds a number with too many digits"
        ) from None
    if not isinstance(data, dict):
        raise BadJsonCommand('a command is a JSON object, e.g. {"cmd": "who"}')
    ref = NO_REF if "ref" not in data else make_ref(data.pop("ref"))
    if _SURROGATE_ESCAPE.search(raw) and _lone_surrogate(data):
        raise BadJsonCommand(
            'not text: a string holds a lone UTF-16 surrogate (such as "\\ud800"); '
            "encode text as UTF-8 or as \\u escapes in pairs",
            ref,
        )
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
    either = ONE_OF.get(cmd)
    if either is not None and (either[0] in data) == (either[1] in data):
        first, second = either
        raise BadJsonCommand(
            f"{cmd} takes '{first}' ({fields[first].what}) or '{second}' "
            f"({fields[second].what}), one of them: {USAGE[cmd]}",
            ref,
        )
    needs = ONLY_WITH.get(cmd)
    if needs is not None and needs[0] in data and needs[1] not in data:
        field, other = needs
        raise BadJsonCommand(
            f"{cmd} takes '{field}' only with '{other}' ({fields[other].what}): {USAGE[cmd]}", ref
        )
    return JsonCommand(_build(cmd, data), ref)


def _build(cmd: str, data: dict[str, Any]) -> AnyCommand:
    """The command's model from fields already checked (so no validator can refuse them)."""
    if cmd == "send":  # the hot path: skip validating again what was just checked
        group = data.get("group")
        return Send.model_construct(
            cmd="send",
            to=data.get("to"),
            body=data["body"],
            group=None if group is None else UUID(group),
        )
    if cmd == "history":
        before, group = data.get("before"), data.get("group")
        return History(
            cmd="history",
            with_=data.get("with"),
            limit=data.get("limit", 50),
            before=None if before is None else UUID(before),
            group=None if group is None else UUID(group),
        )
    if cmd.startswith("group"):
        return _build_group(cmd, data)
    if cmd in FILE_FIELDS:
        return build_file_command(cmd, data)
    if cmd == "search":
        return Search(cmd="search", text=data["text"], limit=data.get("limit", 50))
    if cmd == "verify":
        return Verify(cmd="verify", with_=data["with"], number=data.get("number"))
    if cmd == "trust":
        return Trust(cmd="trust", with_=data["with"], fingerprint=data["fingerprint"])
    if cmd in PRESENCE_FIELDS:
        return build_presence_command(cmd, data)
    if cmd == "whoami":
        return WhoAmICommand(cmd="whoami")
    if cmd == "doctor":
        return Doctor(cmd="doctor", with_=data.get("with"))
    return Quit(cmd="quit")


def _build_group(cmd: str, data: dict[str, Any]) -> AnyCommand:
    if cmd == "groups":
        return GroupsList(cmd="groups")
    if cmd == "group_create":
        return GroupCreate(cmd="group_create", name=data["name"], members=data.get("members", ()))
    group = UUID(data["group"])
    if cmd == "group_leave":
        return GroupLeave(cmd="group_leave", group=group)
    if cmd == "group_rename":
        return GroupRename(cmd="group_rename", group=group, name=data["name"])
    assert cmd in ("group_add", "group_remove", "group_admin")
    return GroupMember(cmd=cmd, group=group, member=data["member"])
