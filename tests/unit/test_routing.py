"""The routes to a peer and the fallback between them: the application's rule, which both
transports (TCP and the memory twin) follow."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chinwag.application.errors import PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import Route
from chinwag.application.routing import first_route, routes
from chinwag.domain.user import PeerAddress

HERE = PeerAddress(host="127.0.0.1", port=7421)
KEY = bytes(32)
NONE = PeerUnreachable("no route at all", "unreachable")


def test_routes_follow_the_address_the_probe_and_the_relay() -> None:
    assert routes(PeerLocation(HERE, KEY, True, True)) == (Route.DIRECT, Route.RELAYED)
    assert routes(PeerLocation(HERE, KEY, False, True)) == (Route.RELAYED,)
    assert routes(PeerLocation(HERE, KEY, False, False)) == (Route.DIRECT,)  # worth a try
    assert routes(PeerLocation(None, KEY, None, True)) == (Route.RELAYED,)
    assert routes(PeerLocation(None, KEY, None, False)) == ()


def attempts(
    failures: dict[Route, PeerUnreachable],
) -> tuple[list[Route], Callable[[Route], Awaitable[Route]]]:
    tried: list[Route] = []

    async def attempt(route: Route) -> Route:
        tried.append(route)
        if route in failures:
            raise failures[route]
        return route

    return tried, attempt


def run_first(
    chosen: tuple[Route, ...], failures: dict[Route, PeerUnreachable]
) -> tuple[tuple[Route, str | None], list[Route]]:
    tried, attempt = attempts(failures)
    result = asyncio.run(first_route(chosen, attempt, NONE))
    return result, tried


BOTH = (Route.DIRECT, Route.RELAYED)


def test_the_first_route_that_works_is_taken() -> None:
    assert run_first(BOTH, {}) == ((Route.DIRECT, None), [Route.DIRECT])


@pytest.mark.parametrize("cause", ["refused", "timeout", "unreachable"])
def test_a_direct_failure_the_relay_may_get_around_falls_back_and_says_why(cause: str) -> None:
    failures = {Route.DIRECT: PeerUnreachable("no", cause)}
    assert run_first(BOTH, failures) == ((Route.RELAYED, cause), list(BOTH))


def test_a_mismatch_never_falls_back() -> None:
    mismatch = PeerUnreachable("somebody else", "key_mismatch")
    tried, attempt = attempts({Route.DIRECT: mismatch})
    with pytest.raises(PeerUnreachable) as caught:
        asyncio.run(first_route(BOTH, attempt, NONE))
    assert caught.value is mismatch and tried == [Route.DIRECT]


def test_with_every_route_failed_the_last_failure_is_raised_or_none_without_routes() -> None:
    direct, relayed = PeerUnreachable("d", "refused"), PeerUnreachable("r", "relay_full")
    tried, attempt = attempts({Route.DIRECT: direct, Route.RELAYED: relayed})
    with pytest.raises(PeerUnreachable) as caught:
        asyncio.run(first_route(BOTH, attempt, NONE))
    assert caught.value is relayed and tried == list(BOTH)
    with pytest.raises(PeerUnreachable) as nothing:
        asyncio.run(first_route((), attempt, NONE))
    assert nothing.value is NONE
