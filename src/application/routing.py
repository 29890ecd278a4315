"""Which routes reach a peer, in the order to try them: the application's rule, which the
transport follows.

Direct first whenever the peer listens and the registry did not find its port closed: a direct
session costs the registry nothing and adds no hop. Relayed when the peer accepts no
connections, when the registry could not connect back to it (behind a NAT or a firewall: trying
directly would only wait for a timeout), or after a direct attempt failed. A new session asks
again, so one that was relayed goes direct as soon as the peer is reachable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from chinwag.application.errors import PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import Route

T = TypeVar("T")


def routes(location: PeerLocation) -> tuple[Route, ...]:
    """The routes to try for a new session to the peer at ``location``, best first; empty when
    none can reach it (no address, and no relay)."""
    # A port the registry could not reach may still answer us (a LAN both share): worth a
    # try when there is no relay to fall back on.
    direct = location.address is not None and (
        location.reachable is not False or not location.relay
    )
    chosen: list[Route] = []
    if direct:
        chosen.append(Route.DIRECT)
    if location.relay:
        chosen.append(Route.RELAYED)
    return tuple(chosen)


FALLBACK_CAUSES = frozenset({"refused", "timeout", "unreachable"})
"""Why a direct attempt failed that the relay may get around (a closed port, a firewall that
drops, no route), as opposed to a peer that is somebody else or turned us away."""


async def first_route(
    chosen: Iterable[Route],
    attempt: Callable[[Route], Awaitable[T]],
    none: PeerUnreachable,
) -> tuple[T, str | None]:
    """What ``attempt`` gives for the first of the ``chosen`` routes that works, and why the
    direct route failed if the session fell back from it (a cause of :data:`FALLBACK_CAUSES`;
    None otherwise). Any other failure is raised at once: a peer that is somebody else or turns
    us away is not tried again by another route. With no route left, the last failure, or
    ``none`` if there was no route to try."""
    failure = none
    fell_back: str | None = None
    for route in chosen:
        try:
            return await attempt(route), fell_back
        except PeerUnreachable as exc:
            if route is not Route.DIRECT or exc.cause not in FALLBACK_CAUSES:
                raise
            failure, fell_back = exc, exc.cause
    raise failure
