"""``watch``: a session asks to be told when some names come and go.

The names join the session's watch set and the registry's :class:`WatchIndex` (name → the
sessions here watching it, which the fan-out reads); a name nobody here watched before is
followed on the bus first, then read from the store, so the answer (those online now) and the
pushes that follow it agree: a change heard while the read was on its way wins over the read,
and the session joins the index only once its answer is made, so its first push is a change
from what the answer said.

Bounded: :data:`MAX_WATCH_REQUEST` names a request, :data:`MAX_WATCHED` per connection and
:data:`MAX_WATCH_ENTRIES` per registry (``watch_limit``; a refused request applies nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, KeysView, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.presence_bus import PresenceBus
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.registry.presence import MAX_WATCH_REQUEST, judge_watch
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from chinwag.domain.user import normalize_username

if TYPE_CHECKING:  # the fan-out reads the index: it imports this module
    from chinwag.application.registry.fanout import PresenceFanOut


class WatchIndex:
    """Who watches whom here: name → watching sessions, each session's own ``watched`` set kept
    alike, and the names *followed* on the bus (watched, or held by a ``watch`` still reading
    the store, so an ``unwatch`` meanwhile does not unfollow them)."""

    __slots__ = ("_by_name", "_holds", "entries", "reserved")

    def __init__(self) -> None:
        self._by_name: dict[str, set[ClientSession]] = {}
        self._holds: Counter[str] = Counter()
        self.entries = 0
        """Watches (session, name) held."""
        self.reserved = 0
        """Watches being added by requests still reading the store (counted against the
        registry's limit)."""

    def watchers(self, name: str) -> Collection[ClientSession]:
        return self._by_name.get(name, ())

    def follows(self, name: str) -> bool:
        """Whether this registry hears ``name`` for its watchers."""
        return name in self._by_name or name in self._holds

    def names(self) -> KeysView[str]:
        """The names watched here."""
        return self._by_name.keys()

    def followed(self) -> set[str]:
        """The names followed: watched, or held."""
        return set(self._by_name) | set(self._holds)

    def hold(self, names: Iterable[str]) -> list[str]:
        """Keep ``names`` followed until :meth:`release`; those not followed before."""
        first = [name for name in names if not self.follows(name)]
        self._holds.update(names)
        return first

    def release(self, names: Iterable[str]) -> list[str]:
        """End a :meth:`hold`; the names no longer followed."""
        gone = []
        for name in names:
            left = self._holds[name] - 1
            if left > 0:
                self._holds[name] = left
            else:
                del self._holds[name]
                if name not in self._by_name:
                    gone.append(name)
        return gone

    def add(self, session: ClientSession, names: Iterable[str]) -> int:
        """``session`` watches ``names`` too; how many watches were new."""
        watched = session.watched
        if watched is None:
            watched = session.watched = set()
        added = 0
        for name in names:
            if name in watched:
                continue
            watched.add(name)
            self._by_name.setdefault(name, set()).add(session)
            added += 1
        self.entries += added
        return added

    def remove(self, session: ClientSession, names: Iterable[str]) -> list[str]:
        """``session`` no longer watches ``names``; those no longer followed."""
        watched = session.watched
        if not watched:
            return []
        gone = []
        for name in names:
            if name not in watched:
                continue
            watched.discard(name)
            self.entries -= 1
            sessions = self._by_name[name]
            sessions.discard(session)
            if not sessions:
                del self._by_name[name]
                if name not in self._holds:
                    gone.append(name)
        return gone

    def drop(self, session: ClientSession) -> list[str]:
        """``session`` is gone: all its watches end; the names no longer followed."""
        watched = session.watched
        if not watched:
            return []
        gone = self.remove(session, sorted(watched))
        session.watched = None
        return gone


@dataclass(frozen=True, slots=True)
class Watched:
    """The answer to ``watch``: the names asked for that are online now (sorted), and those
    that cannot be usernames (skipped, as sent)."""

    online: list[str]
    invalid: list[str]


def usernames(raw: Iterable[str]) -> tuple[list[str], list[str]]:
    """The names of a request normalised (once each, in order) and those that are no username."""
    valid: dict[str, None] = {}
    invalid: list[str] = []
    for text in raw:
        try:
            valid[normalize_username(text)] = None
        except InvalidUsername:
            invalid.append(text)
    return list(valid), invalid


def judge_request(session: ClientSession, names: Sequence[str]) -> Refusal | None:
    """Why ``session`` may not ask to watch or unwatch ``names`` at all, or None."""
    if session.registration is None:
        return Refusal(RefusalCode.NOT_REGISTERED, "register first")
    if session.legacy:
        return Refusal(
            RefusalCode.BAD_REQUEST, "watch lists need a registration with protocol version 3"
        )
    if len(names) > MAX_WATCH_REQUEST:
        return Refusal(RefusalCode.BAD_REQUEST, f"at most {MAX_WATCH_REQUEST} names in one request")
    return None


class Watch:
    """The ``watch`` request (and the ``watch`` of a ``register``)."""

    def __init__(
        self,
        index: WatchIndex,
        fanout: PresenceFanOut,
        presence: PresenceStore,
        bus: PresenceBus,
        stats: RegistryStats,
    ) -> None:
        self.index = index
        self.fanout = fanout
        self.presence = presence
        self.bus = bus
        self.stats = stats

    async def execute(self, session: ClientSession, names: Sequence[str]) -> Watched | Refusal:
        """``session`` (registered, version 3) watches ``names`` too; those online now."""
        refusal = judge_request(session, names)
        if refusal is not None:
            return refusal
        valid, invalid = usernames(names)
        watched = session.watched or set()
        new = [name for name in valid if name not in watched]
        index = self.index
        refusal = judge_watch(len(watched), len(new), index.entries + index.reserved)
        if refusal is not None:
            return refusal
        index.reserved += len(new)
        first = index.hold(new)
        read = True
        try:
            await self._read(first, valid)
        except StoreUnavailable:
            read = False
        finally:
            index.reserved -= len(new)
        if not read or session.closed:
            await self.fanout.unfollow(index.release(new))
            return Refusal(RefusalCode.BUSY, "presence is not available now; try again")
        index.add(session, new)
        index.release(new)
        self.stats.watched_names = index.entries
        fanout = self.fanout
        return Watched([name for name in sorted(valid) if fanout.is_online(name)], invalid)

    async def _read(self, first: list[str], names: list[str]) -> None:
        """Follow the names nobody here followed, then read all into what the fan-out knows
        (where no change came while the read was on its way: the change is newer)."""
        if first:
            await self.bus.follow(first)
        if not names:
            return
        fanout = self.fanout
        window = fanout.window()
        try:
            entries = await self.presence.get_many(names)
        finally:
            fanout.close_window(window)
        fanout.reconcile((name for name in names if name not in window.changed), entries)
