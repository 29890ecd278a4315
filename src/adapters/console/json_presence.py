"""``chinwag-cli --json`` and presence: the commands ``who`` (with or without a prefix),
``watch`` and ``unwatch``, as :mod:`json_commands` checks them (see README, "JSON mode")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from chinwag.adapters.console.json_fields import JsonField, is_names
from chinwag.adapters.console.presence_commands import PresenceCommand, WatchCommand, Who
from chinwag.domain.registry.presence import MAX_WATCHED, MAX_WHO_LIMIT, WHO_DEFAULT
from chinwag.domain.user import MAX_USERNAME_LENGTH

PRESENCE_USAGE: Final = {
    "who": '{"cmd": "who"} (the people you watch who are online) or '
    '{"cmd": "who", "prefix": TEXT, "limit": N} (everyone online whose name starts with TEXT)',
    "watch": '{"cmd": "watch", "names": [NAMES]}',
    "unwatch": '{"cmd": "unwatch", "names": [NAMES]}',
}

PRESENCE_ONLY_WITH: Final = {"who": ("limit", "prefix")}
"""``limit`` counts the names a search finds: without ``prefix`` there is no search."""


def _prefix(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_USERNAME_LENGTH


def _watch_names(value: Any) -> bool:
    return is_names(value, MAX_WATCHED)


_NAMES = JsonField(f"a list of names (at most {MAX_WATCHED:,})", _watch_names)

PRESENCE_FIELDS: Final[Mapping[str, Mapping[str, JsonField]]] = {
    "who": {
        "prefix": JsonField(
            f"text of at most {MAX_USERNAME_LENGTH} characters (the start of a name)",
            _prefix,
            required=False,
        ),
        "limit": JsonField(
            f"a whole number from 1 to {MAX_WHO_LIMIT}",
            lambda value: type(value) is int and 1 <= value <= MAX_WHO_LIMIT,
            required=False,
        ),
    },
    "watch": {"names": _NAMES},
    "unwatch": {"names": _NAMES},
}


def build_presence_command(cmd: str, data: dict[str, Any]) -> PresenceCommand:
    """The command's model from fields already checked."""
    if cmd == "who":
        return Who(cmd="who", prefix=data.get("prefix"), limit=data.get("limit", WHO_DEFAULT))
    names = tuple(data["names"])
    if cmd == "watch":
        return WatchCommand(cmd="watch", names=names)
    assert cmd == "unwatch"
    return WatchCommand(cmd="unwatch", names=names)
