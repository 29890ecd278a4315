from __future__ import annotations

from collections.abc import Collection

from chinwag.application.ports.directory import Directory


class WatchPeople:
    """Be told when these people come and go, besides contacts, conversations and groups (which
    are watched without asking); kept for the session."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def watch(self, names: Collection[str]) -> frozenset[str]:
        """Raises ``WatchLimit`` past what the registry lets one client watch. Returns the
        watch list."""
        await self._directory.watch(names)
        return self._directory.watched()

    async def unwatch(self, names: Collection[str]) -> frozenset[str]:
        await self._directory.unwatch(names)
        return self._directory.watched()
