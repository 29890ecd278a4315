"""Presence at the registry: who is online where (one entry per name, network-wide), a change of
one name, whom a change is told to (everyone while few are online, else the name's watchers),
and what one recipient has not been told yet.

Watch lists make a presence change cost its watchers, never everyone online; below a threshold
of online names the registry tells everyone everything, as before watch lists existed, so a
small registry behaves as it always did. :func:`next_mode` keeps a margin between the two
switches so a count hovering at the threshold does not flip the mode each second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from chinwag.domain.registry.refusals import Refusal, RefusalCode

WATCHING_VERSION = 3
"""The first protocol version of a registration that knows watch lists; an older one (a legacy
registration) is told every change, as before."""
MAX_WATCHED = 1_000
"""Names one connection may watch."""
MAX_WATCH_ENTRIES = 2_000_000
"""Watches (connection, name) one registry holds in all."""
MAX_WATCH_REQUEST = 256
"""Names in one ``watch`` or ``unwatch`` request (256 names of 32 characters fit one 16 KiB
request frame)."""
MAX_REGISTER_WATCH = 256
"""Names in the ``watch`` of a ``register`` (the rest follow in ``watch`` requests)."""
MAX_WHO_LIMIT = 100
"""Names in one ``who`` answer."""
WHO_DEFAULT = 50
"""Names in a ``who`` answer that asked for no ``limit``."""
PUSH_RATE = 4.0
"""``presence_changed`` pushes a second to one connection, past its burst (the rest coalesce)."""
PUSH_BURST = 8
"""``presence_changed`` pushes one connection may get at once after a quiet spell."""
MODE_CHECK_EVERY = 1.0
"""Seconds between two reads of the online count that may switch the :class:`PresenceMode`."""
MODE_SWITCH_EVERY = 10.0
"""Seconds at least between two switches of the :class:`PresenceMode` (each one sends every
connection a whole ``presence``)."""


@dataclass(frozen=True, slots=True)
class OnlineEntry:
    """A name online somewhere in the network: its key, where it listens, the registry holding
    it and that registration's ``epoch`` (unique network-wide; a later sign-in of the same name
    has another), the protocol ``version`` it registered with, and whether the registry could
    connect back to it (None: not probed)."""

    name: str
    key: bytes
    host: str | None
    port: int | None
    """None (with ``host``): the client accepts no connections."""
    registry: str
    epoch: str
    version: int
    reachable: bool | None = None


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """``name`` came online (``online``) or left, as the registration ``epoch`` held by
    ``registry``: a leave names the epoch that left, so a late one never hides a newer join."""

    name: str
    online: bool
    epoch: str
    registry: str


class PresenceMode(StrEnum):
    """Whom presence changes are told to: every registered connection, or the name's watchers
    (and every version-2 connection, which knows nothing of watch lists)."""

    EVERYONE = "everyone"
    WATCHED = "watched"


def next_mode(mode: PresenceMode, online: int, below: int) -> PresenceMode:
    """The mode with ``online`` names online and the threshold ``below``: WATCHED once
    ``online >= below``, EVERYONE again only once ``online < below - max(1, below // 10)``;
    in between, ``mode`` stays."""
    if online >= below:
        return PresenceMode.WATCHED
    if online < below - max(1, below // 10):
        return PresenceMode.EVERYONE
    return mode


def judge_watch(watched: int, adding: int, entries: int) -> Refusal | None:
    """Why a connection watching ``watched`` names may not add ``adding`` new ones while the
    registry holds ``entries`` watches in all, or None (a refused request applies nothing)."""
    if watched + adding > MAX_WATCHED:
        return Refusal(
            RefusalCode.WATCH_LIMIT, f"a connection may watch at most {MAX_WATCHED} names"
        )
    if entries + adding > MAX_WATCH_ENTRIES:
        return Refusal(RefusalCode.WATCH_LIMIT, "this registry watches as many names as it can")
    return None


class PendingPresence:
    """What one recipient has not been told yet: per name, its state as last told and its state
    now. A name that went back to what the recipient was last told is dropped (it came and went
    between two pushes: it is in neither list).

    Each change noted is taken as a transition (the caller drops repeats), so the state last
    told is the opposite of the first change noted; only the state now is kept.
    """

    __slots__ = ("_now",)

    def __init__(self) -> None:
        self._now: dict[str, bool] = {}

    def note(self, name: str, online: bool) -> None:
        """``name`` came online (``online``) or left."""
        now = self._now.get(name)
        if now is None:
            self._now[name] = online
        elif now != online:
            del self._now[name]  # back to what the recipient was told

    def take(self) -> tuple[list[str], list[str]]:
        """The names that joined and those that left since the last take, in the order first
        noted; nothing is pending after it."""
        joined = [name for name, online in self._now.items() if online]
        left = [name for name, online in self._now.items() if not online]
        self._now.clear()
        return joined, left

    def clear(self) -> None:
        """Forget what is pending (the recipient is about to get a whole ``presence``)."""
        self._now.clear()

    def forget(self, names: Iterable[str]) -> None:
        """Forget what is pending about ``names`` (the recipient no longer hears of them)."""
        for name in names:
            self._now.pop(name, None)

    def __len__(self) -> int:
        return len(self._now)

    def __bool__(self) -> bool:
        return bool(self._now)
