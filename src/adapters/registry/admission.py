"""Who may bind which name at the registry: the first key wins, a name that reads like a bound
one is refused, new names are rate-limited per address, and one key at a time may claim a name.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.protocol import ErrorCode
from chinwag.domain.user import poses_as_latin, username_skeleton

MAX_NAMES_PER_CONNECTION = 4
"""Different names one connection may register in its life (a client uses one)."""

MAX_NEW_NAMES_PER_MINUTE = 30
"""New names (first bindings) one address may make in a minute; each is a durable write, and a
loop of fresh names would fill the name book for good."""


_MAX_WINDOWS = 10_000
"""Addresses with a window of recent new names before the stale ones are dropped."""


@dataclass(slots=True)
class _NewNames:
    """When one address bound its recent new names (a sliding minute)."""

    times: deque[float] = field(default_factory=deque)


class NameAdmission:
    """The rules of binding names to keys, over the name book."""

    def __init__(self, book: NameBook, max_new_names_per_minute: int) -> None:
        self._book = book
        self.max_new_names_per_minute = max_new_names_per_minute
        self._new_names: dict[str, _NewNames] = {}
        self._claiming: dict[str, bytes] = {}

    def refuse_new(self, peer_ip: str, name: str, key: bytes) -> tuple[ErrorCode, str] | None:
        """Why ``name`` cannot be bound to ``key`` now, or None."""
        claimant = self._claiming.get(name)
        if claimant is not None and claimant != key:
            return ErrorCode.NAME_TAKEN, f"{name} is being registered to another key"
        other = self._book.lookalike(name)
        if other is not None:
            return ErrorCode.NAME_TAKEN, f"{name} looks like {other}, which is registered"
        if poses_as_latin(name):
            return ErrorCode.NAME_TAKEN, (
                f"{name} looks like the Latin name {username_skeleton(name)}"
            )
        now = asyncio.get_running_loop().time()
        if len(self._new_names) > _MAX_WINDOWS:  # addresses that stopped making names
            self._new_names = {
                ip: w for ip, w in self._new_names.items() if w.times and w.times[-1] > now - 60
            }
        window = self._new_names.setdefault(peer_ip, _NewNames())
        while window.times and window.times[0] <= now - 60:
            window.times.popleft()
        if len(window.times) >= self.max_new_names_per_minute:
            return ErrorCode.RATE_LIMITED, (
                f"too many new names from {peer_ip}: at most "
                f"{self.max_new_names_per_minute} a minute"
            )
        window.times.append(now)
        return None

    def claim(self, name: str, key: bytes) -> None:
        """``key`` is binding ``name`` now: any other key asking meanwhile is refused."""
        self._claiming[name] = key

    async def bind(self, name: str, key: bytes) -> bytes:
        """Write the claimed binding; the key ``name`` is bound to now (the first one's)."""
        try:
            return await self._book.bind(name, key)
        finally:
            if self._claiming.get(name) == key:
                del self._claiming[name]

    async def current(self, name: str) -> bytes | None:
        """``name``'s binding as the file has it (the operator may have released it)."""
        return await self._book.refresh(name)
