"""Who may bind a new name at the registry: one key at a time may claim a name, a name that reads
like a bound one (or like a Latin name) is refused, and new names are rate-limited per address.

Moved from ``adapters/registry/admission.py`` onto the ports: the clock is the :class:`Ticker`,
the lookalike index is the :class:`NameStore`'s, and refusals are the domain's
:class:`Refusal` (``answers.py`` makes them frames).
"""

from __future__ import annotations

from collections import deque

from chinwag.application.registry.ports.name_store import BindResult, NameStore
from chinwag.application.registry.ports.ticker import Ticker
from chinwag.domain.registry.binding import judge_new_name
from chinwag.domain.registry.refusals import Refusal, RefusalCode

MAX_NEW_NAMES_PER_MINUTE = 30
"""New names (first bindings) one address may make in a minute; each is a durable write, and a
loop of fresh names would fill the name book for good."""

WINDOW = 60.0
"""Seconds over which new names are counted (a sliding minute)."""

_MAX_WINDOWS = 10_000
"""Addresses with a window of recent new names before the stale ones are dropped."""


class NameAdmission:
    """The rules of binding a name nobody holds yet, over the name store.

    :meth:`admit` claims the name for the key in the same step as it checks the claim, so a
    second key asking while the first one's binding is being written is refused at once (not
    after the write, with another text); :meth:`bind` writes it and drops the claim.
    """

    def __init__(
        self,
        names: NameStore,
        ticker: Ticker,
        max_new_names_per_minute: int = MAX_NEW_NAMES_PER_MINUTE,
    ) -> None:
        self._names = names
        self._ticker = ticker
        self.max_new_names_per_minute = max_new_names_per_minute
        self._new_names: dict[str, deque[float]] = {}
        self._claiming: dict[str, bytes] = {}

    async def admit(self, name: str, key: bytes, address: str) -> Refusal | None:
        """Why ``name`` (bound to nobody) cannot be bound to ``key`` for a client at
        ``address`` now, or None: then it is claimed for ``key`` until :meth:`bind` ends.
        Raises StoreUnavailable if the lookalike index cannot be read (nothing is claimed)."""
        claimant = self._claiming.get(name)
        if claimant is not None and claimant != key:
            return Refusal(RefusalCode.NAME_TAKEN, f"{name} is being registered to another key")
        mine = claimant is None
        self._claiming[name] = key  # before the read: a second key asking meanwhile waits its turn
        try:
            refusal = judge_new_name(name, await self._names.lookalike(name))
        except BaseException:
            if mine:
                self._unclaim(name, key)
            raise
        if refusal is None:
            refusal = self._count_new_name(address)
        if refusal is not None and mine:
            self._unclaim(name, key)
        return refusal

    async def bind(self, name: str, key: bytes) -> BindResult:
        """Write the binding :meth:`admit` claimed; what the store bound (the first key wins).
        The claim ends either way; StoreUnavailable if the store cannot write."""
        try:
            return await self._names.bind(name, key)
        finally:
            self._unclaim(name, key)

    def _unclaim(self, name: str, key: bytes) -> None:
        if self._claiming.get(name) == key:
            del self._claiming[name]

    def _count_new_name(self, address: str) -> Refusal | None:
        """One more new name from ``address``, or why not (too many in the last minute)."""
        now = self._ticker.monotonic()
        if len(self._new_names) > _MAX_WINDOWS:  # addresses that stopped making names
            self._new_names = {
                ip: times
                for ip, times in self._new_names.items()
                if times and times[-1] > now - WINDOW
            }
        times = self._new_names.setdefault(address, deque())
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if len(times) >= self.max_new_names_per_minute:
            return Refusal(
                RefusalCode.RATE_LIMITED,
                f"too many new names from {address}: at most "
                f"{self.max_new_names_per_minute} a minute",
            )
        times.append(now)
        return None
