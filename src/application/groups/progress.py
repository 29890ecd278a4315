"""How far each author's messages of a group are stored: the receive order rule and the next
sequence number of this user's own posts both read it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from uuid import UUID

from chinwag.application.ports.message_repository import MessageRepository


class GroupProgress:
    """Per group, per author, the highest sequence number stored (messages of an author are
    stored in order without gaps, so that is how many of theirs are stored).

    Read from the repository once per group and run, then counted here as messages are stored:
    the receive path asks for every message, so it must not cost a query each time. Only code
    that has just committed messages calls :meth:`advance`.
    """

    def __init__(self, messages: MessageRepository) -> None:
        self._messages = messages
        self._counts: dict[UUID, dict[str, int]] = {}
        self._loading: dict[UUID, asyncio.Future[dict[str, int]]] = {}
        self._early: dict[UUID, dict[str, int]] = {}
        """Advances made while a group's counts were being read: the read may have run before
        their commit, so they are added to what it returns."""

    async def of(self, group: UUID) -> Mapping[str, int]:
        """``{author: highest seq stored}`` for ``group`` (a live view: do not keep it across
        an ``await`` if you need it fixed)."""
        counts = self._counts.get(group)
        if counts is not None:
            return counts
        loading = self._loading.get(group)
        if loading is None:
            # One read per group, shared by concurrent callers.
            loading = asyncio.ensure_future(self._messages.group_progress(group))
            self._loading[group] = loading
        try:
            loaded = await asyncio.shield(loading)
        finally:
            if self._loading.get(group) is loading and loading.done():
                del self._loading[group]  # done, or failed: the next caller reads again
        counts = self._counts.get(group)
        if counts is None:
            counts = dict(loaded)
            for author, seq in self._early.pop(group, {}).items():
                counts[author] = max(counts.get(author, 0), seq)
            self._counts[group] = counts
        return counts

    async def last(self, group: UUID, author: str) -> int:
        """The highest sequence number of ``author`` stored in ``group`` (0: none)."""
        return (await self.of(group)).get(author, 0)

    def forget(self, group: UUID) -> None:
        """Messages of ``group`` were taken out (withdrawn): its counts are read again."""
        self._counts.pop(group, None)
        self._early.pop(group, None)

    def advance(self, group: UUID, author: str, seq: int) -> None:
        """``author``'s message ``seq`` of ``group`` is committed (the count only grows)."""
        counts = self._counts.get(group)
        if counts is None:
            counts = self._early.setdefault(group, {})
        if seq > counts.get(author, 0):
            counts[author] = seq
