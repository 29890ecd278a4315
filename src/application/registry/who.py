"""``who``: who is online, as a search rather than a broadcast.

:class:`WhoOnline` answers ``who {prefix, limit, after}``: the online names of the whole
network that start with a prefix, sorted, a page at a time (keyset paging: the next page starts
after the last name of this one, so a page never repeats or skips a name that stayed online).
:class:`WhoWatched` answers ``who`` without a prefix (and ``list`` on a version-3
registration): the session's own presence set, as the fan-out keeps it, with no I/O.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from chinwag.application.registry.fanout import PresenceFanOut
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.registry.presence import MAX_WHO_LIMIT, WHO_DEFAULT
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from chinwag.domain.user import MAX_USERNAME_LENGTH, normalize_username


@dataclass(frozen=True, slots=True)
class OnlinePage:
    """The answer to ``who`` with a prefix: the ``prefix`` as searched (case-mapped), up to
    ``limit`` names sorted, and whether ``more`` follow the last."""

    prefix: str
    online: list[str]
    more: bool


def case_map(text: str) -> str:
    """``text`` spelled as a name is (``Alice`` finds ``alice``). A prefix need not be a whole
    valid name (a right-to-left name cut short may break the bidi rule), so what the username
    rules refuse is only width-mapped, lower-cased and composed, as they would map it."""
    try:
        return normalize_username(text)
    except InvalidUsername:
        return unicodedata.normalize("NFC", _width_map(text.strip()).lower())


def _width_map(text: str) -> str:
    return "".join(
        unicodedata.normalize("NFKC", char)
        if unicodedata.east_asian_width(char) in ("F", "H")
        else char
        for char in text
    )


class WhoOnline:
    """``who`` with a prefix: a page of the network's online names."""

    def __init__(self, presence: PresenceStore, stats: RegistryStats) -> None:
        self.presence = presence
        self.stats = stats

    async def execute(
        self,
        session: ClientSession,
        prefix: str,
        limit: int | None = None,
        after: str | None = None,
    ) -> OnlinePage | Refusal:
        """Up to ``limit`` (1..:data:`MAX_WHO_LIMIT`, default :data:`WHO_DEFAULT`) online names
        starting with ``prefix`` (at most a name's length; may be empty), after ``after``."""
        if session.registration is None:
            return Refusal(RefusalCode.NOT_REGISTERED, "register first")
        if session.legacy:
            return Refusal(RefusalCode.BAD_REQUEST, "who with a prefix needs protocol version 3")
        if limit is None:
            limit = WHO_DEFAULT
        if not 1 <= limit <= MAX_WHO_LIMIT:
            return Refusal(RefusalCode.BAD_REQUEST, f"limit must be 1 to {MAX_WHO_LIMIT}")
        searched = case_map(prefix) if prefix.strip() else ""
        if len(searched) > MAX_USERNAME_LENGTH:
            return Refusal(
                RefusalCode.BAD_REQUEST,
                f"a prefix has at most {MAX_USERNAME_LENGTH} characters",
            )
        start = case_map(after) if after is not None and after.strip() else None
        self.stats.who_queries += 1
        try:
            names, more = await self.presence.prefix(searched, limit, start)
        except StoreUnavailable:
            return Refusal(RefusalCode.BUSY, "presence is not available now; try again")
        return OnlinePage(searched, names, more)


class WhoWatched:
    """``who`` without a prefix: the session's presence set (whom it watches online; everyone
    online while everyone is told; itself)."""

    def __init__(self, fanout: PresenceFanOut, stats: RegistryStats) -> None:
        self.fanout = fanout
        self.stats = stats

    async def execute(self, session: ClientSession) -> list[str] | Refusal:
        if session.registration is None:
            return Refusal(RefusalCode.NOT_REGISTERED, "register first")
        self.stats.who_queries += 1
        try:
            return await self.fanout.snapshot(session)
        except StoreUnavailable:
            return Refusal(RefusalCode.BUSY, "presence is not available now; try again")
