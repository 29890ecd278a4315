from __future__ import annotations

from collections.abc import Collection

from chinwag.application.ports.directory import Directory
from chinwag.domain.user import normalize_username


class WatchPeople:
    """Be told when these people come and go, besides contacts, conversations and groups (which
    are watched without asking); kept for the session."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def watch(self, names: Collection[str]) -> frozenset[str]:
        """Raises ``InvalidUsername`` for a name that cannot be one (nothing is watched then),
        ``WatchLimit`` past what the registry lets one client watch. Returns the watch list."""
        await self._directory.watch(_checked(names))
        return self._directory.watched()

    async def unwatch(self, names: Collection[str]) -> frozenset[str]:
        """Raises ``InvalidUsername`` as :meth:`watch` does. Returns the watch list."""
        await self._directory.unwatch(_checked(names))
        return self._directory.watched()


def _checked(names: Collection[str]) -> list[str]:
    """``names`` normalised; the first that cannot be a username is refused, naming it (the
    directory would skip it without a word, and the user would wait for news that never
    comes)."""
    return list(dict.fromkeys(normalize_username(name) for name in names))
