"""Who is online in the network: one entry per name, whichever registry holds it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from chinwag.domain.registry.presence import OnlineEntry


class PresenceStore(Protocol):
    """The online set. Every method that does I/O raises
    :class:`~chinwag.application.registry.ports.errors.StoreUnavailable` when it cannot.

    A store that shares the set between registries publishes each join and leave itself (in the
    same atomic step); one in memory hands them to the local bus.
    """

    async def join(self, entry: OnlineEntry) -> OnlineEntry | None:
        """``entry`` holds its name now; the entry it replaced (the previous holder, maybe on
        another registry), if any."""
        ...

    async def leave(self, name: str, epoch: str) -> bool:
        """``name`` is offline, if it is still held by ``epoch`` (a newer sign-in is not undone
        by an older one's leave); whether it left."""
        ...

    async def get(self, name: str) -> OnlineEntry | None:
        """``name``'s entry, if online (a registry that died does not count)."""
        ...

    async def get_many(self, names: Iterable[str]) -> dict[str, OnlineEntry]:
        """The entries of those of ``names`` that are online."""
        ...

    async def set_reachable(self, name: str, epoch: str, reachable: bool | None) -> None:
        """What the probe of ``name`` (still held by ``epoch``) found."""
        ...

    async def prefix(self, prefix: str, limit: int, after: str | None) -> tuple[list[str], bool]:
        """Up to ``limit`` online names starting with ``prefix``, sorted, all after ``after``
        (keyset paging; None: from the first); and whether more follow."""
        ...

    async def count(self) -> int:
        """Names online in all."""
        ...

    async def everyone(self, limit: int) -> list[str]:
        """Up to ``limit`` online names, sorted (the whole ``presence`` in EVERYONE mode)."""
        ...

    async def heartbeat(self) -> None:
        """Tell the store this registry is alive (its names expire with it); a no-op in memory."""
        ...

    async def republish(self, entries: Sequence[OnlineEntry]) -> None:
        """Join ``entries`` again, epochs kept, after the store came back empty or stale."""
        ...

    async def close(self) -> None: ...
