"""The in-memory twin of the group repository."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

from chinwag.domain.group import Change


class InMemoryGroupRepository:
    """The :class:`~chinwag.application.ports.group_repository.GroupRepository` port, in dicts.

    Changes are frozen, so the very objects given are kept and handed back, as SQLite hands
    back equal ones rebuilt from what it stored.
    """

    def __init__(self) -> None:
        self._hashes: set[bytes] = set()
        self._by_group: dict[UUID, list[Change]] = {}  # a dict keeps groups in order first seen

    async def add_changes(self, changes: Sequence[Change]) -> list[Change]:
        new: list[Change] = []
        for change in changes:
            digest = change.hash()
            if digest in self._hashes:
                continue
            self._hashes.add(digest)
            self._by_group.setdefault(change.group, []).append(change)
            new.append(change)
        return new

    async def changes(self, group: UUID) -> list[Change]:
        return list(self._by_group.get(group, ()))

    async def remove_changes(self, group: UUID, hashes: Collection[bytes]) -> int:
        stored = self._by_group.get(group)
        if not stored:
            return 0
        gone = {change.hash() for change in stored} & set(hashes)
        self._hashes -= gone
        left = [change for change in stored if change.hash() not in gone]
        if left:
            self._by_group[group] = left  # the group keeps its place among the groups
        else:
            del self._by_group[group]
        return len(gone)

    async def groups(self) -> list[UUID]:
        return list(self._by_group)
