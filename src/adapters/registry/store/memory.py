"""The registry's stores in memory, for one registry on its own (no Redis): who is online
(:class:`MemoryPresenceStore`) and, for tests and as the SQLite store's mirror, names bound to
keys (:class:`MemoryNameStore`).

Their coroutines never suspend, so a use case over them finishes in the step that started it
(``eager.py`` runs such a coroutine without a task): an answer from memory stays as cheap as it
was before the stores were ports. Nothing here fails, so nothing raises ``StoreUnavailable``.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence

from chinwag.application.registry.ports.name_store import BindResult
from chinwag.application.registry.ports.presence_bus import PresenceBus
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.user import username_skeleton


class MemoryNameStore:
    """Names bound to keys in dicts, lost with the process (``NameBook()`` without a file, and
    tests). Names known from version 1 (never bound) may be given: they are ``known`` until the
    first key binds them.

    :class:`~chinwag.adapters.registry.store.sqlite_names.SqliteNameStore` keeps one of these as
    its mirror of the file, so the answers without I/O (:meth:`cached_key`,
    :meth:`cached_lookalike`, :meth:`cached_known`) are the same code for both.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._keys: dict[str, bytes] = {}
        self._known: set[str] = set(known)
        self._by_skeleton: dict[str, str] = {}
        """A bound name per skeleton: the first one seen (several may share one, bound before
        the skeleton rule or by a race the rule did not see)."""

    # -- without I/O -----------------------------------------------------------------------------

    def cached_key(self, name: str) -> bytes | None:
        return self._keys.get(name)

    def cached_lookalike(self, name: str) -> str | None:
        """Another bound name with ``name``'s skeleton, as this process knows them."""
        other = self._by_skeleton.get(username_skeleton(name))
        return other if other is not None and other != name else None

    def cached_known(self, name: str) -> bool:
        """Whether ``name`` is bound or known from version 1, as this process knows it."""
        return name in self._known or name in self._keys

    def __len__(self) -> int:
        """Names bound or known."""
        return len(self._known | self._keys.keys())

    def remember(self, name: str, key: bytes) -> None:
        """``name`` is bound to ``key`` (read or written)."""
        self._keys[name] = key
        self._known.add(name)
        self._by_skeleton.setdefault(username_skeleton(name), name)

    def forget(self, name: str, known: bool = True) -> None:
        """``name`` is bound no more (released); still ``known`` unless ``known`` is False."""
        self._keys.pop(name, None)
        if not known:
            self._known.discard(name)
        skeleton = username_skeleton(name)
        if self._by_skeleton.get(skeleton) == name:
            del self._by_skeleton[skeleton]
            for other in self._keys:  # another bound name with that skeleton reads alike now
                if username_skeleton(other) == skeleton:
                    self._by_skeleton[skeleton] = other
                    break

    # -- the port --------------------------------------------------------------------------------

    async def key_of(self, name: str) -> bytes | None:
        return self._keys.get(name)

    async def lookalike(self, name: str) -> str | None:
        return self.cached_lookalike(name)

    async def bind(self, name: str, key: bytes) -> BindResult:
        """First key wins; a lookalike of a bound name is refused (one step: nothing awaits)."""
        bound = self._keys.get(name)
        if bound is not None:
            return BindResult(bound)
        other = self.cached_lookalike(name)
        if other is not None:
            return BindResult(None, other)
        self.remember(name, key)
        return BindResult(key)

    async def known(self, name: str) -> bool:
        return self.cached_known(name)

    async def release(self, name: str) -> bool:
        had = self.cached_known(name)
        self.forget(name, known=False)
        return had

    async def close(self) -> None:
        return None


class MemoryPresenceStore:
    """The online set of one registry, in a dict and a sorted list of its names (prefix search
    with keyset paging is a bisection, not a scan of everyone).

    Each join and leave is published on ``bus`` (the registry's
    :class:`~chinwag.adapters.registry.store.local_bus.LocalPresenceBus`), as a shared store
    publishes its own in the same atomic step.
    """

    def __init__(self, bus: PresenceBus | None = None) -> None:
        self._bus = bus
        self._entries: dict[str, OnlineEntry] = {}
        self._sorted: list[str] = []

    def _put(self, entry: OnlineEntry) -> OnlineEntry | None:
        previous = self._entries.get(entry.name)
        self._entries[entry.name] = entry
        if previous is None:
            bisect.insort(self._sorted, entry.name)
        return previous

    async def join(self, entry: OnlineEntry) -> OnlineEntry | None:
        previous = self._put(entry)
        if self._bus is not None:
            await self._bus.publish(PresenceChange(entry.name, True, entry.epoch, entry.registry))
        return previous

    async def leave(self, name: str, epoch: str) -> bool:
        entry = self._entries.get(name)
        if entry is None or entry.epoch != epoch:
            return False
        del self._entries[name]
        del self._sorted[bisect.bisect_left(self._sorted, name)]
        if self._bus is not None:
            await self._bus.publish(PresenceChange(name, False, epoch, entry.registry))
        return True

    async def get(self, name: str) -> OnlineEntry | None:
        return self._entries.get(name)

    async def get_many(self, names: Iterable[str]) -> dict[str, OnlineEntry]:
        entries = self._entries
        return {name: entries[name] for name in names if name in entries}

    async def set_reachable(self, name: str, epoch: str, reachable: bool | None) -> None:
        entry = self._entries.get(name)
        if entry is not None and entry.epoch == epoch:
            self._entries[name] = dataclasses.replace(entry, reachable=reachable)

    async def prefix(self, prefix: str, limit: int, after: str | None) -> tuple[list[str], bool]:
        names = self._sorted
        start = bisect.bisect_left(names, prefix)
        if after is not None:
            start = max(start, bisect.bisect_right(names, after))
        found: list[str] = []
        for index in range(start, min(start + limit + 1, len(names))):
            name = names[index]
            if not name.startswith(prefix):
                break
            found.append(name)
        more = len(found) > limit
        return found[:limit], more

    async def count(self) -> int:
        return len(self._entries)

    async def everyone(self, limit: int) -> list[str]:
        return self._sorted[: max(0, limit)]

    async def heartbeat(self) -> None:
        return None

    async def republish(self, entries: Sequence[OnlineEntry]) -> None:
        """Hold ``entries`` again, each published if it was not held as it is (a memory store
        is never lost, so this is only the port's promise kept)."""
        for entry in entries:
            if self._entries.get(entry.name) != entry:
                await self.join(entry)

    async def close(self) -> None:
        return None
