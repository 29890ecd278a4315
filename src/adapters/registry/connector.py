"""Which registry a client is connected to, and finding another when it is lost.

A client may be given several registries of one network (``--registry A,B``). The
:class:`RegistryConnector` connects to one of them through the
:class:`~chinwag.adapters.registry.link.RegistryGate`: at sign-in it tries each once, from the
last one that worked; after a loss it moves on to the next and keeps trying them in turn, with
the backoff of :class:`~chinwag.adapters.registry.endpoints.FailoverOrder` (per endpoint, so it
doubles once per whole round when all are down, and is today's single-registry backoff when only
one is given). Relay legs go to the registry connected to now, over the same kind of endpoint,
or, when a registry sends us to another of its network (``via``), to that one, which must prove
the same key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from chinwag.adapters.registry.endpoints import (
    MAX_ENDPOINTS,
    FailoverOrder,
    RegistryEndpoint,
    Scheme,
    parse_endpoint,
)
from chinwag.adapters.registry.link import Link, RegistryGate
from chinwag.application.errors import RegistryKeyChanged, RegistryUnavailable
from chinwag.domain.errors import DomainError
from chinwag.domain.user import validate_host

log = logging.getLogger("chinwag.adapters.registry.client")

T = TypeVar("T")


def endpoints_of(
    registry: str | RegistryEndpoint | Sequence[RegistryEndpoint], port: int | None = None
) -> tuple[RegistryEndpoint, ...]:
    """Registries as a client is given them: endpoints as they are, or a TCP registry as
    ``host, port`` (the host in its one spelling, as its key is pinned under it)."""
    if isinstance(registry, str):
        if port is None:
            raise TypeError("a registry given by its host needs a port")
        return (RegistryEndpoint(Scheme.TCP, validate_host(registry), port),)
    if port is not None:
        raise TypeError("a port goes with a host, not with endpoints")
    if isinstance(registry, RegistryEndpoint):
        return (registry,)
    endpoints = tuple(registry)
    if not endpoints:
        raise ValueError("no registry given")
    return endpoints


def shown(endpoints: Sequence[RegistryEndpoint]) -> str:
    """The registries as a user would type them: ``a:7420, ws://b/chinwag``."""
    return ", ".join(endpoint.pin_name for endpoint in endpoints)


class RegistryConnector:
    """Connects to one of ``endpoints`` (in the order given, at first) and remembers which.

    ``current`` is the endpoint of the link in use (None before the first connection and while
    lost); ``last`` the one that worked last, which is where relay legs and the next sign-in go
    first. ``key`` is the identity key the registry at ``last`` proved."""

    def __init__(
        self,
        endpoints: Sequence[RegistryEndpoint],
        gate: RegistryGate,
        *,
        connect_timeout: float,
        request_timeout: float,
        reconnect_cap: float,
        key_changed_cap: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._order = FailoverOrder(endpoints, clock, cap=reconnect_cap)
        self._gate = gate
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._key_changed_cap = key_changed_cap
        self.current: RegistryEndpoint | None = None
        self.last: RegistryEndpoint = self._order.endpoints[0]
        self.key: bytes | None = None

    @property
    def endpoints(self) -> tuple[RegistryEndpoint, ...]:
        return self._order.endpoints

    @property
    def where(self) -> str:
        """The registry in messages: the one connected to (or last), else the whole list."""
        if self.current is not None or len(self.endpoints) == 1:
            return (self.current or self.last).pin_name
        return shown(self.endpoints)

    async def connect(self, then: Callable[[Link], Awaitable[T]]) -> T:
        """Sign-in: try every endpoint once, from the last that worked, and return what ``then``
        made of the first link that worked. A refusal (``NameTaken``...) is the network's
        answer and is raised at once; so is a pins file that cannot be read (ours to fix). When
        none worked: a registry proving another key is said first (somebody may pose as it);
        else ``RegistryUnavailable`` with each registry's reason (its own, if only one)."""
        start = self._order.endpoints.index(self._order.next()[0])
        count = len(self.endpoints)
        failures: list[DomainError] = []
        for offset in range(count):
            endpoint = self.endpoints[(start + offset) % count]
            try:
                return await self._try(endpoint, then)
            except (RegistryUnavailable, RegistryKeyChanged) as exc:
                self._order.failed(endpoint)
                failures.append(exc)
                if count > 1:
                    log.info("could not sign in at %s: %s", endpoint, exc)
        raise _worst(failures)

    async def reconnect(
        self, then: Callable[[Link], Awaitable[T]], told: Callable[[str], None]
    ) -> T:
        """After a loss (:meth:`lost`): try the endpoints in turn until one works, waiting as
        :class:`FailoverOrder` says (jittered, so the clients of a registry that died do not all
        come back in the same millisecond). Cancel to stop.

        A registry proving another key will not change its mind in a few seconds: it is said
        through ``told`` once (loudly) until its reason changes, and that endpoint is retried
        ever more slowly, up to ``key_changed_cap``, while the others keep their pace."""
        said: dict[RegistryEndpoint, str] = {}
        while True:
            endpoint, wait = self._order.next()
            await asyncio.sleep(wait / 2 + random.uniform(0, wait / 2))
            try:
                return await self._try(endpoint, then)
            except RegistryKeyChanged as exc:  # loud: somebody may pose as the registry
                self._order.failed(endpoint, cap=self._key_changed_cap)
                if said.get(endpoint) != str(exc):
                    log.warning("not reconnecting to %s yet: %s", endpoint, exc)
                    told(str(exc))
                else:
                    log.debug("the registry at %s still proves another key", endpoint)
                said[endpoint] = str(exc)
            except DomainError as exc:  # unavailable, our ghost still holds the name, our pins
                self._order.failed(endpoint)
                log.info("reconnecting to the registry at %s: %s", endpoint, exc)
                said.pop(endpoint, None)

    def left(self) -> None:
        """The link in use was closed on purpose (signed out, or replaced): none is current, and
        its registry did not fail."""
        self.current = None

    def lost(self) -> None:
        """The link in use died: its registry counts as failed, and the next one comes first."""
        if self.current is not None:
            self._order.failed(self.current)
            self.current = None

    async def open_leg(
        self,
        then: Callable[[Link], Awaitable[T]],
        timeout: float,
        via: Sequence[str] | None = None,
    ) -> T:
        """A new secure connection, not registered, handed to ``then``, all within ``timeout``
        seconds once connected: to the registry connected to now (or last), or to the first of
        ``via`` (URLs of registries of its network) that answers, which must prove the key
        the registry connected to proved (so no new pin is made for it)."""
        if not via:
            return await self._gate.connect(
                self.current or self.last, self._connect_timeout, timeout, then
            )
        key = self.key
        if key is None:
            raise RegistryUnavailable("not connected to a registry yet")
        endpoints = _via_endpoints(via)
        if not endpoints:
            raise RegistryUnavailable(f"the registry sent us to no usable registry ({via[:3]!r})")
        failures: list[DomainError] = []
        for endpoint in endpoints:
            try:
                return await self._gate.connect(
                    endpoint, self._connect_timeout, timeout, then, key=key
                )
            except (RegistryUnavailable, RegistryKeyChanged) as exc:
                log.info("could not join a relay at %s: %s", endpoint, exc)
                failures.append(exc)
        raise _worst(failures)

    async def _try(self, endpoint: RegistryEndpoint, then: Callable[[Link], Awaitable[T]]) -> T:
        """Connect to ``endpoint`` and run ``then``; on success it is the current registry."""

        async def take(link: Link) -> T:
            result = await then(link)
            self.key = link.stream.remote.key
            return result

        result = await self._gate.connect(
            endpoint, self._connect_timeout, self._request_timeout, take
        )
        self._order.worked(endpoint)
        self.current = self.last = endpoint
        return result


def _via_endpoints(via: Sequence[str]) -> list[RegistryEndpoint]:
    """The registries a ``relay_incoming`` names, in its order; the ones that are no registry
    URL (a newer registry's scheme, a typo in its ``--advertise``, no scheme at all: a registry
    advertises whole URLs) are left out."""
    endpoints: list[RegistryEndpoint] = []
    for url in via[:MAX_ENDPOINTS]:
        try:
            if "://" not in url:
                raise ValueError("not a URL")
            endpoint = parse_endpoint(url)
        except ValueError as exc:
            log.info("ignoring %r in a relay offer: %s", url[:80], exc)
            continue
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    return endpoints


def _worst(failures: Sequence[DomainError]) -> DomainError:
    """The error to raise when every registry failed: the only one; else a registry proving
    another key (a possible impostor comes first); else all the reasons in one."""
    if len(failures) == 1:
        return failures[0]
    for failure in failures:
        if isinstance(failure, RegistryKeyChanged):
            return failure
    return RegistryUnavailable("no registry could be reached: " + "; ".join(map(str, failures)))
