"""The client's watch list at the registry (protocol version 3): the names whose presence it is
told about, kept for the session and sent again with every registration.

A version 3 registry tells a client only about the names it watches (and about everyone while
few are online); a version 2 registry tells everyone everything, so there the list is only
kept. The first :data:`MAX_REGISTER_WATCH` names go in the ``register`` itself, so the first
``presence`` already holds them; the rest follow in ``watch`` requests of at most
:data:`MAX_WATCH_REQUEST` names (one request frame each).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from pydantic import BaseModel

from chinwag.adapters.registry.link import Link, refusal
from chinwag.adapters.registry.protocol import (
    Error,
    ErrorCode,
    ListOnline,
    Online,
    ServerMessage,
    Unwatch,
    Watch,
    Watched,
    Who,
    dump,
)
from chinwag.application.errors import WatchLimit
from chinwag.domain.registry.presence import (
    MAX_REGISTER_WATCH,
    MAX_WATCH_REQUEST,
    WATCHING_VERSION,
)
from chinwag.domain.user import valid_usernames

Ask = Callable[[Callable[[int], BaseModel]], Awaitable[ServerMessage]]
"""Send a request made from its rid, and wait for its answer (``RegistryDirectory.request``)."""


def batches(names: Iterable[str], size: int = MAX_WATCH_REQUEST) -> list[list[str]]:
    """``names`` sorted, in requests of at most ``size``."""
    ordered = sorted(names)
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


class WatchList:
    """The names watched (normalised), whether the registry was told yet or not."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.told: set[str] = set()
        """The names the registry of the current link was told (with its registration, or
        in a ``watch`` since)."""

    def add(self, names: Iterable[str]) -> list[str]:
        """Watch ``names`` too (those that cannot be usernames are skipped); the new ones."""
        new = sorted(valid_usernames(names) - self.names)
        self.names.update(new)
        return new

    def remove(self, names: Iterable[str]) -> list[str]:
        """Stop watching ``names``; those that were watched."""
        gone = sorted(valid_usernames(names) & self.names)
        self.names.difference_update(gone)
        self.told.difference_update(gone)
        return gone

    def untold(self) -> list[str]:
        """The names the current link's registry was not told yet (watched while it was being
        made), now counted as told: the caller sends them."""
        missing = sorted(self.names - self.told)
        self.told.update(missing)
        return missing

    def at_registration(self, version: int) -> tuple[list[str] | None, list[list[str]]]:
        """What a registration of ``version`` carries (None: no ``watch`` field) and the
        ``watch`` requests that follow it."""
        self.told = set() if version < WATCHING_VERSION else set(self.names)
        if version < WATCHING_VERSION or not self.names:
            return None, []
        ordered = sorted(self.names)
        return ordered[:MAX_REGISTER_WATCH], batches(ordered[MAX_REGISTER_WATCH:])


async def send_watch(ask: Ask, names: list[str], where: str) -> list[str]:
    """Tell a version 3 registry to watch ``names``; those of them online now. Raises
    ``WatchLimit`` (or the registry's other refusal) if it refused a batch; the batches before
    it stay watched."""
    online: list[str] = []
    for batch in batches(names):

        def make(rid: int, names: list[str] = batch) -> BaseModel:
            return Watch(rid=rid, names=names)

        answer = await ask(make)
        if isinstance(answer, Error) and answer.code == ErrorCode.WATCH_LIMIT:
            raise WatchLimit(answer.message)
        if not isinstance(answer, Watched):
            raise refusal(answer, where)
        online += answer.online
    return online


async def send_unwatch(ask: Ask, names: list[str]) -> list[str] | None:
    """Tell a version 3 registry to stop watching ``names``; then the client's whole presence
    set as it is now (None if the registry did not say)."""
    for batch in batches(names):

        def make(rid: int, names: list[str] = batch) -> BaseModel:
            return Unwatch(rid=rid, names=names)

        await ask(make)
    answer = await ask(lambda rid: ListOnline(rid=rid))
    return list(answer.online) if isinstance(answer, Online) else None


async def search(ask: Ask, prefix: str, limit: int, where: str) -> list[str]:
    """``who``: up to ``limit`` names online starting with ``prefix``, sorted."""
    answer = await ask(lambda rid: Who(rid=rid, prefix=prefix, limit=limit))
    if isinstance(answer, Online):
        return list(answer.online)
    raise refusal(answer, where)


def tell_untold(link: Link, watching: WatchList) -> None:
    """Watch on ``link`` the names watched while it was being made (its ``register`` carried
    the list as it was then); their ``watched`` answers come with the pushes."""
    if link.version >= WATCHING_VERSION:
        for names in batches(watching.untold()):
            link.send(dump(Watch(names=names)))
