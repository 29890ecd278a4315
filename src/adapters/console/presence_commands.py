"""Console commands about who is online (``who``, ``watch``, ``unwatch``), as JSON lines or
slash commands.

A registry with many people online tells each client only about the people it watches (its
presence set: contacts, conversations and group members, watched without asking, and whoever
the user adds with ``watch``). So ``who`` alone lists that set, and ``who`` with a prefix asks
the registry for everyone online whose name starts with it: a search, not a list of everyone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from chinwag.application.use_cases import FindOnline, WatchPeople, WhoIsOnline
from chinwag.domain.errors import DomainError
from chinwag.domain.registry.presence import MAX_WHO_LIMIT, WHO_DEFAULT
from chinwag.domain.user import normalize_username


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Who(_Command):
    """The watched people online; with ``prefix``, up to ``limit`` of everyone online whose
    name starts with it."""

    cmd: Literal["who"]
    prefix: str | None = None
    limit: int = Field(default=WHO_DEFAULT, ge=1, le=MAX_WHO_LIMIT)


class WatchCommand(_Command):
    """Be told (``watch``), or no longer told (``unwatch``), when these people come and go."""

    cmd: Literal["watch", "unwatch"]
    names: tuple[str, ...]


PresenceCommand = Who | WatchCommand


class PresenceAnswers(Protocol):
    """What a presence command's answer is printed through (both console outputs)."""

    def online(self, online: Sequence[str]) -> None:
        """Answer to ``who``: the watched people online."""
        ...

    def found_online(self, prefix: str, names: Sequence[str], limit: int) -> None:
        """Answer to ``who`` with a prefix: ``names`` (sorted, at most ``limit``)."""
        ...

    def watching(
        self, cmd: Literal["watch", "unwatch"], names: Sequence[str], watched: Collection[str]
    ) -> None:
        """Answer to ``watch``/``unwatch``: the names it was about (normalised), and the
        whole watch list now (the people watched without asking too)."""
        ...


class PresenceUnavailable(DomainError):
    code = "unavailable"


async def run_presence_command(
    command: PresenceCommand,
    output: PresenceAnswers,
    who: WhoIsOnline,
    find: FindOnline | None,
    watch: WatchPeople | None,
) -> None:
    """Run ``command`` and print its answer. The presence event that may follow a ``watch``
    (somebody watched now is online) is the directory's to push, as every change is."""
    match command:
        case Who(prefix=None):
            output.online(who.execute())
        case Who(prefix=prefix) if prefix is not None:
            if find is None:
                raise PresenceUnavailable("searching who is online is not available here")
            output.found_online(prefix, await find.execute(prefix, command.limit), command.limit)
        case WatchCommand():
            if watch is None:
                raise PresenceUnavailable("watching people is not available here")
            if command.cmd == "watch":
                watched = await watch.watch(command.names)
            else:
                watched = await watch.unwatch(command.names)
            # Every name is valid: the use case refused the command otherwise.
            names = list(dict.fromkeys(normalize_username(name) for name in command.names))
            output.watching(command.cmd, names, watched)
