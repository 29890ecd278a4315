"""Requests to the registry on the signed-in link, and their answers matched by ``rid``; and
the one exchange before it, registering (:func:`register_on`).

Several requests may be out at once (lookups of a whole group); the registry echoes each one's
``rid`` in its answer, in any order. A request fails as soon as the link it went out on is lost,
not when its timeout passes: the caller hears ``RegistryUnavailable`` while the client
reconnects, and may ask again once it is back.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from pydantic import BaseModel

from chinwag.adapters.registry.link import Link, refusal
from chinwag.adapters.registry.protocol import (
    Presence,
    Reachability,
    Register,
    Registered,
    ServerMessage,
    Watch,
    dump,
)
from chinwag.adapters.registry.watching import WatchList
from chinwag.application.errors import RegistryUnavailable
from chinwag.domain.user import PeerAddress


class PendingRequests:
    """The requests sent and not answered yet, each waiting at most ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._rids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ServerMessage]] = {}

    async def ask(self, link: Link, make: Callable[[int], BaseModel], where: str) -> ServerMessage:
        """Send ``make(rid)`` on ``link`` and wait for the answer that echoes ``rid``."""
        rid = next(self._rids)
        future: asyncio.Future[ServerMessage] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            link.send(dump(make(rid)))
            async with asyncio.timeout(self.timeout):
                return await future
        except TimeoutError:
            raise RegistryUnavailable(
                f"the registry at {where} did not answer within {self.timeout:g} s"
            ) from None
        finally:
            self._pending.pop(rid, None)

    def answered(self, rid: int, message: ServerMessage) -> None:
        """``message`` answers request ``rid`` (if it still waits)."""
        future = self._pending.get(rid)
        if future is not None and not future.done():
            future.set_result(message)

    def fail(self, why: str) -> None:
        """The link is lost: every request waiting hears ``RegistryUnavailable(why)``."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RegistryUnavailable(why))


async def register_on(
    link: Link,
    name: str,
    address: PeerAddress | None,
    heard: Callable[[Reachability], None],
    watching: WatchList | None = None,
) -> frozenset[str]:
    """Register ``name`` at ``address`` on a new ``link`` (with the names of ``watching``, on a
    registry that knows watch lists); return the registry's snapshot of who is online, which
    follows ``registered`` (the probe's word may come first: it goes to ``heard``). Watches
    past what a ``register`` carries are sent right after it; their ``watched`` answers come
    with the pushes. The registry's refusal is raised in the application's terms."""
    first, rest = (None, []) if watching is None else watching.at_registration(link.version)
    link.send(
        dump(
            Register(
                version=link.version,
                user=name,
                host=address.host if address is not None else None,
                port=address.port if address is not None else None,
                watch=first,
            )
        )
    )
    for names in rest:
        link.send(dump(Watch(names=names)))
    answer = await link.next()
    if not isinstance(answer, Registered):
        raise refusal(answer, link.where)
    while True:
        message = await link.next()
        if isinstance(message, Presence):
            return frozenset(message.online)
        if isinstance(message, Reachability):
            heard(message)
