"""Why a recipient's deliveries wait, and which news may end the wait before its backoff.

The courier waits after a try that could not deliver everything: at the latest until a backoff
delay has passed. News may end the wait sooner, but only news that can change the answer: any
other wake-up makes a try that fails as the one before. Worse, some news comes from the peer's
own traffic, and a try makes traffic: the recipient's client lets us in before each batch, which
tells its courier that we reached it. Two peers that each held deliveries the other deferred
woke each other with every try, thousands of times a second. So each wait has a kind
(:class:`Wait`) and ends early only on the news (:class:`Signal`) that may help it
(:data:`ENDED_BY`):

- the recipient is offline, unknown, out of reach, or the connection failed (``REACH``): it
  coming online, the registry coming back, it reaching us;
- its key changed and the user has not accepted the new one (``KEY``): the user letting it
  through, or the name coming online again (perhaps with the key we know);
- it refuses us for now (``REFUSED``: a quota, or it holds our key): it reaching us (it may have
  let us in), it coming online again (a restart), the user letting it through;
- it lacks a group's changes or an author's earlier messages (``GROUP``: the deferral codes in
  :data:`GROUP_DEFERRALS`): a sync with it having completed (``Courier.retry_group``). Nothing
  else changes its answer, least of all its reaching us.

The user's own act (letting a name through) ends a wait of any kind. News that the peer's
traffic brings (:data:`PACED`: it reached us, a sync with it completed) never starts a try
sooner than ``wake_gap`` after the one before, and that gap doubles each time such a try makes
no progress: two peers that refuse each other for good soon try at the backoff's pace (at most
once every :data:`~chinwag.application.delivery.MAX_RETRY_DELAY` / 2 seconds), whatever their
traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from enum import Enum
from typing import Final

from chinwag.application.errors import IdentityChanged, PeerRefused
from chinwag.application.refusals import GROUP_BEHIND, GROUP_GAP, UNKNOWN_GROUP


class Signal(Enum):
    """News about a recipient that may be worth another try."""

    ONLINE = "online"
    """The registry says it has just come online."""
    REGISTRY = "registry"
    """The registry connection is back (relayed sessions and lookups need it)."""
    TRUSTED = "trusted"
    """The user let it through (accepted its key): the user's act, worth a try whatever waits."""
    REACHED = "reached"
    """It reached us (its client was let in): it can be reached, and may let us in too."""
    SYNCED = "synced"
    """A group sync with it completed: it may take the group messages it deferred."""


class Wait(Enum):
    """Why a recipient's deliveries wait."""

    REACH = "reach"
    KEY = "key"
    REFUSED = "refused"
    GROUP = "group"


ENDED_BY: Final[dict[Wait, frozenset[Signal]]] = {
    Wait.REACH: frozenset({Signal.ONLINE, Signal.REGISTRY, Signal.TRUSTED, Signal.REACHED}),
    Wait.KEY: frozenset({Signal.TRUSTED, Signal.ONLINE}),
    Wait.REFUSED: frozenset({Signal.TRUSTED, Signal.ONLINE, Signal.REACHED}),
    Wait.GROUP: frozenset({Signal.TRUSTED, Signal.SYNCED}),
}
"""The news that ends each kind of wait before its backoff."""

PACED: Final = frozenset({Signal.REACHED, Signal.SYNCED})
"""News the peer's own traffic brings: it starts no try sooner than ``wake_gap`` after the one
before."""

GROUP_DEFERRALS: Final = frozenset({UNKNOWN_GROUP, GROUP_BEHIND, GROUP_GAP})
"""The codes a member defers group messages with until it has synced with the group: it lacks
the group, changes of its log, or earlier messages of their author."""


def wait_of(error: Exception) -> Wait:
    """The kind of wait a failed try leads to."""
    if isinstance(error, IdentityChanged):
        return Wait.KEY
    if isinstance(error, PeerRefused):
        return Wait.GROUP if error.reason in GROUP_DEFERRALS else Wait.REFUSED
    return Wait.REACH


class Pause:
    """One recipient's wait between tries, and the news that came since its last try began.

    News that comes during a try is kept: the wait after it ends at once if the news helps (the
    recipient came online while its lookup still said offline). Paced news (:data:`PACED`)
    ends a wait ``gap`` seconds after the last try began at the soonest, and twice as long each
    time in a row the try it started made no progress (a peer whose traffic answers ours soon
    waits for the backoff alone); a try that makes progress resets that.
    """

    def __init__(self) -> None:
        self._news: set[Signal] = set()
        self._event = asyncio.Event()
        self._tried_at = -math.inf
        self._strikes = 0
        """Tries in a row started by paced news that made no progress."""
        self._paced = False
        """Whether paced news ended the last wait."""
        self.waiting = False
        """Whether the worker is waiting (not trying)."""

    def tried(self) -> None:
        """A try begins: news from now on counts for the wait after it."""
        self._news.clear()
        self._tried_at = asyncio.get_running_loop().time()

    def after_try(self, progress: bool) -> None:
        """How the try went: whether it delivered (or refused for good) anything."""
        if progress:
            self._strikes = 0
        elif self._paced:
            self._strikes = min(self._strikes + 1, 16)

    def tell(self, signal: Signal) -> None:
        self._news.add(signal)
        self._event.set()

    async def wait(self, why: Wait, delay: float, gap: float) -> None:
        """Until ``delay`` seconds have passed, or news that may help a wait of kind ``why``
        has come (paced news: see the class)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        self.waiting, self._paced = True, False
        try:
            while True:
                self._event.clear()  # cleared before reading the news: none is missed
                ready, paced = self._ready(why, gap)
                end = min(deadline, ready)
                if end <= loop.time():
                    self._paced = paced and ready <= deadline
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(end - loop.time()):
                        await self._event.wait()
        finally:
            self.waiting = False

    def _ready(self, why: Wait, gap: float) -> tuple[float, bool]:
        """When the news so far ends a wait of kind ``why`` (infinity: it does not), and
        whether that is paced news."""
        news = self._news & ENDED_BY[why]
        if news - PACED:
            return -math.inf, False
        if news:
            return self._tried_at + gap * 2**self._strikes, True
        return math.inf, False
