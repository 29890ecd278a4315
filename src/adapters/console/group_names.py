"""Which group a person means by what they typed: the terminal's ``/g`` and ``/send``, and
``chinwag-cli export --group``, all find it this one way.

The order matters: anybody can make a group and add the person to it, and a group's name is
chosen by its creator, but its id is not. A stranger's group whose id starts with "cafe" must
never take the place of the person's own group named "cafe". So: its id first (in any form),
else its name (in any case and spacing), else, only when neither matched, the start of its id
(:data:`MIN_PREFIX` characters at least; ``/groups`` shows the first :data:`SHOWN` of each).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, TypeVar
from uuid import UUID

from chinwag.domain.errors import UnknownGroup

MIN_PREFIX: Final = 4
"""The shortest start of an id that finds a group."""
SHOWN: Final = 8
"""How much of a group's id the terminal shows to type after ``/g``."""


class Named(Protocol):
    """A group as the person sees it: its id and its name."""

    @property
    def id(self) -> UUID: ...

    @property
    def name(self) -> str: ...


G = TypeVar("G", bound=Named)


def short_id(group: UUID) -> str:
    """The start of ``group``'s id the terminal shows (enough to find it)."""
    return str(group)[:SHOWN]


def pick_group(named: str, groups: Sequence[G]) -> G:
    """The one of ``groups`` that ``named`` means (see the module's text); ``UnknownGroup``
    says why none is meant: no such group, or several (either way, with their ids)."""
    wanted = " ".join(named.split()).casefold()
    as_id = _as_uuid(wanted)
    matches = [g for g in groups if g.id == as_id]
    if not matches and wanted:
        matches = [g for g in groups if " ".join(g.name.split()).casefold() == wanted]
    if not matches and len(wanted) >= MIN_PREFIX:
        matches = [g for g in groups if str(g.id).startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(f"{g.name} ({g.id})" for g in matches)
        raise UnknownGroup(f"several of your groups match {named}: {ids}; use an id")
    known = ", ".join(f"{g.name} ({short_id(g.id)})" for g in groups) or "none yet"
    raise UnknownGroup(f"you are in no group called {named} (your groups: {known})")


def _as_uuid(text: str) -> UUID | None:
    """``text`` as a group id, if it is one (any case, with or without dashes)."""
    try:
        return UUID(text)
    except ValueError:
        return None
