"""How a JSON command's fields are checked: what each takes, said in our words when it is
wrong. Shared by the chat commands (:mod:`json_commands`) and the file commands
(:mod:`json_files`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class JsonField:
    what: str
    """What the field takes, as said in a refusal: "a name", "a whole number from 1 to 500"."""
    check: Callable[[Any], bool]
    required: bool = True


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def is_name(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def is_names(value: Any, most: int) -> bool:
    """A list of at most ``most`` names (whether each can be a username is the use case's
    to say, naming the one that cannot)."""
    return isinstance(value, list) and len(value) <= most and all(is_name(v) for v in value)


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


GROUP_ID = 'a group id (as in a group\'s "id")'
