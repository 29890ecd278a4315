"""The registry client: the :class:`~chinwag.application.ports.directory.Directory` port over TCP
or WebSocket, to one registry or to any of several of one network.

Every connection starts with the registry's clear ``welcome`` and a Noise handshake in which
the registry proves its key: the key pinned for this registry address on first use, or the one
given with ``--registry-key``; any other is refused (``registry_key_changed``) before this client
says who it is (:mod:`chinwag.adapters.registry.link`). This client's own identity key, proven
in the same handshake, is what the registry binds our name to.

Once signed in, one background task owns the connection: it reads every frame (answers resolve
the pending request with the same ``rid``, :mod:`~chinwag.adapters.registry.requests`; presence
pushes update the online set), pings every heartbeat interval, and when the connection dies it
connects again, to the next registry of the list if there are several
(:mod:`~chinwag.adapters.registry.connector`: capped, jittered exponential backoff), and
registers again with the same name and address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from pydantic import BaseModel

from chinwag.adapters.registry.connector import RegistryConnector, endpoints_of
from chinwag.adapters.registry.endpoints import RegistryEndpoint
from chinwag.adapters.registry.link import Link, RegistryGate, location, refusal
from chinwag.adapters.registry.pins import RegistryPins
from chinwag.adapters.registry.presence_view import PRESENCE_GRACE, PresenceView
from chinwag.adapters.registry.protocol import (
    Error,
    ErrorCode,
    Found,
    Lookup,
    Presence,
    PresenceChanged,
    ProbeMe,
    Reachability,
    Relay,
    RelayIncoming,
    ServerMessage,
    Unregister,
    Watched,
)
from chinwag.adapters.registry.requests import PendingRequests, register_on
from chinwag.adapters.registry.watching import (
    WatchList,
    search,
    send_unwatch,
    send_watch,
    tell_untold,
)
from chinwag.adapters.secure.channel import (
    Security,
)
from chinwag.application.errors import ChatError, NotSignedIn, RegistryUnavailable
from chinwag.application.ports.directory import (
    DirectoryListener,
    PeerLocation,
    RegistryStatus,
    SelfReachability,
)
from chinwag.application.ports.directory import Reachability as Cause
from chinwag.application.registry.who import case_map
from chinwag.domain.registry.presence import WATCHING_VERSION
from chinwag.domain.user import PeerAddress, normalize_username

log = logging.getLogger(__name__)

_SIGN_OUT_TIMEOUT = 1.0
"""How long signing out waits for the registry to take its ``unregister``."""


T = TypeVar("T")

_NOT_HEARD = SelfReachability(False, Cause.UNKNOWN, "the registry has not said yet")


class _Replaced(Exception):
    """Another connection registered our name with our key."""


class RegistryDirectory:
    """The registry as a client sees it, kept signed in across registry restarts.

    The listener hears ``CONNECTED`` and then the registry's snapshot of who is online after every
    (re)connection, and after that ``presence_changed`` only when the online set really changes.

    ``registry`` is where: the endpoints of the registries of one network, tried in that order
    at first (:class:`~chinwag.adapters.registry.connector.RegistryConnector`), or one TCP
    registry as ``host, port``.

    Our identity key (in ``security``) is what the registry binds our name to: registering again
    with it replaces our own previous connection, so a reconnect is not refused while the
    registry still holds our dead one. ``pins`` remembers each registry's key by endpoint;
    ``registry_key`` (a fingerprint) pins them all explicitly, overriding and updating the pins.
    """

    def __init__(
        self,
        registry: str | RegistryEndpoint | Sequence[RegistryEndpoint],
        port: int | None = None,
        *,
        security: Security,
        pins: RegistryPins | None = None,
        registry_key: str | None = None,
        heartbeat_interval: float | None = None,
        connect_timeout: float = 3.0,
        request_timeout: float = 5.0,
        reconnect_cap: float = 3.0,
        key_changed_cap: float = 60.0,
        presence_grace: float = PRESENCE_GRACE,
    ) -> None:
        endpoints = endpoints_of(registry, port)
        self._gate = RegistryGate(
            endpoints[0].pin_name, security, pins, registry_key, heartbeat_interval
        )
        self._registries = RegistryConnector(
            endpoints,
            self._gate,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            reconnect_cap=reconnect_cap,
            key_changed_cap=key_changed_cap,
        )
        self._requests = PendingRequests(request_timeout)
        self._presence = PresenceView(self._tell_presence, presence_grace)
        self._listener: DirectoryListener | None = None
        self._user = ""
        self._address: PeerAddress | None = None
        self._link: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = RegistryStatus.DISCONNECTED
        self._reachability = _NOT_HEARD
        self._watching = WatchList()
        self.relay_offered: Callable[[RelayIncoming], None] | None = None
        """Told when the registry offers us a relayed session (set by the relay client)."""

    # -- the Directory port ------------------------------------------------------------------

    async def sign_in(
        self, user: str, address: PeerAddress | None, listener: DirectoryListener
    ) -> str:
        """Register ``user`` at ``address``; raises ``NameTaken``, ``InvalidUsername`` or
        ``RegistryUnavailable``. On success the registration is kept alive in the background."""
        if self._listener is not None:
            raise RuntimeError("already signed in; sign out first")
        name = normalize_username(user)
        self._listener = listener
        try:
            link, snapshot = await self._connect(name, address)
        except BaseException:
            self._listener = None
            raise
        self._user, self._address, self._link = name, address, link
        tell_untold(link, self._watching)
        self._task = asyncio.get_running_loop().create_task(
            self._run(link), name=f"chinwag registry client {name}"
        )
        self._notify_status(RegistryStatus.CONNECTED, f"connected to the registry at {self._where}")
        self._presence.snapshot(snapshot, reconnected=False)
        return name

    async def sign_out(self) -> None:
        """Unregister (best effort), close the connection and stop the background task."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            if self._link is not None:
                try:
                    async with asyncio.timeout(_SIGN_OUT_TIMEOUT):
                        await self.request(lambda rid: Unregister(rid=rid))
                except (ChatError, TimeoutError):
                    log.info("could not unregister from the registry at %s", self._where)
        finally:
            task.cancel()
            await asyncio.wait((task,))
            self._registries.left()
            self._presence.clear()
            self._notify_status(RegistryStatus.DISCONNECTED, "signed out")
            self._listener = None

    async def lookup(self, user: str) -> PeerLocation:
        """Where ``user`` listens, and the key the registry binds the name to.

        ``UserOffline`` if they signed in here before but are not online, ``UnknownUser`` if they
        never did, ``RegistryUnavailable`` while the registry is out of reach.
        """
        name = normalize_username(user)
        answer = await self.request(lambda rid: Lookup(rid=rid, user=name))
        if isinstance(answer, Found):
            return location(answer, name)
        raise refusal(answer, self._where)

    def online(self) -> frozenset[str]:
        """Who is online, as last pushed by the registry (steadied across a reconnection)."""
        return self._presence.online

    async def watch(self, names: Collection[str]) -> None:
        """Watch ``names`` too: kept for the session and told to the registry now if it is
        connected and knows watch lists (a version 2 registry tells everyone everything), else
        with the next registration. ``WatchLimit`` if the registry refuses (then not kept)."""
        new = self._watching.add(names)
        if new and self._link is not None and self._link.version >= WATCHING_VERSION:
            self._watching.told.update(new)
            try:
                online = await send_watch(self.request, new, self._where)
            except RegistryUnavailable:
                self._watching.told.difference_update(new)
                return  # kept: the next registration carries them
            except ChatError:
                self._watching.remove(new)
                raise
            self._presence.changed(online, ())  # pushes cover them from here on

    async def unwatch(self, names: Collection[str]) -> None:
        """Stop watching ``names``; the presence set is read again (a name no longer watched
        is no longer told about, unless the registry tells everyone everything)."""
        gone = self._watching.remove(names)
        if gone and self._link is not None and self._link.version >= WATCHING_VERSION:
            online = await send_unwatch(self.request, gone)
            if online is not None:
                self._presence.snapshot(online, reconnected=False)

    def watched(self) -> frozenset[str]:
        return frozenset(self._watching.names)

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        """The registry's search (``who``); a version 2 registry pushes everyone online, so
        there the search is of what it pushed."""
        link = self._link
        if self._status is not RegistryStatus.CONNECTED or link is None:
            raise RegistryUnavailable(f"the registry at {self._where} is out of reach")
        if link.version >= WATCHING_VERSION:
            return await search(self.request, prefix, limit, self._where)
        start = case_map(prefix)
        return sorted(name for name in self.online() if name.startswith(start))[:limit]

    def status(self) -> RegistryStatus:
        return self._status

    @property
    def endpoints(self) -> tuple[RegistryEndpoint, ...]:
        """Every registry this client may sign in with, in the order given."""
        return self._registries.endpoints

    @property
    def connected_to(self) -> RegistryEndpoint | None:
        """The registry of the link in use; None while there is none."""
        return self._registries.current

    @property
    def _where(self) -> str:
        return self._registries.where

    async def reachability(self, *, fresh: bool = False) -> SelfReachability:
        """What the registry's probe of our address found (``fresh``: probe again now)."""
        if self._status is not RegistryStatus.CONNECTED:
            return SelfReachability(False, Cause.UNKNOWN, "not connected to the registry")
        if fresh:
            try:
                answer = await self.request(lambda rid: ProbeMe(rid=rid))
            except ChatError:
                return self._reachability
            if isinstance(answer, Reachability):
                self._take_reachability(answer)
        return self._reachability

    def _take_reachability(self, answer: Reachability) -> None:
        try:
            cause = Cause(answer.reason)
        except ValueError:  # a newer registry's word: keep what it says for people
            cause = Cause.UNKNOWN
        self._reachability = SelfReachability(answer.reachable, cause, answer.detail)

    # -- relayed sessions (see chinwag.adapters.registry.relay_client) --------------------

    async def ask_relay(self, peer: str) -> ServerMessage:
        """Ask the registry for a relayed session to ``peer``: its answer (``relay_ready`` or
        an error)."""
        return await self.request(lambda rid: Relay(rid=rid, to=peer))

    async def open_leg(
        self,
        then: Callable[[Link], Awaitable[T]],
        timeout: float,
        via: Sequence[str] | None = None,
    ) -> T:
        """A new secure connection, not registered, handed to ``then``, all within ``timeout``
        seconds: to the registry we are connected to, over the same kind of endpoint, or to one
        of ``via`` (a ``relay_incoming``'s), which must prove that registry's key."""
        return await self._registries.open_leg(then, timeout, via)

    # -- requests ----------------------------------------------------------------------------

    async def request(self, make: Callable[[int], BaseModel]) -> ServerMessage:
        """Send the request ``make(rid)`` and wait for the answer that echoes ``rid``."""
        if self._listener is None:
            raise NotSignedIn("sign in to the registry first")
        link = self._link
        if link is None:
            raise RegistryUnavailable(
                f"not connected to the registry at {self._where}; reconnecting"
            )
        return await self._requests.ask(link, make, self._where)

    # -- the connection ----------------------------------------------------------------------

    async def _connect(self, name: str, address: PeerAddress | None) -> tuple[Link, frozenset[str]]:
        """Connect to one of the registries, run the handshake and register; return the link
        and the online snapshot."""
        return await self._registries.connect(self._registering(name, address))

    def _registering(
        self, name: str, address: PeerAddress | None
    ) -> Callable[[Link], Awaitable[tuple[Link, frozenset[str]]]]:
        async def register(link: Link) -> tuple[Link, frozenset[str]]:
            return link, await register_on(
                link, name, address, self._take_reachability, self._watching
            )

        return register

    async def _run(self, link: Link) -> None:
        """The background task: serve the link; when it dies, reconnect and register again.

        It stops for good only if another connection with our session took the name over: that
        is another client holding our key, and reconnecting would make the two fight forever (or
        the operator released our name and another key holds it now).
        """
        try:
            while True:
                try:
                    reason = await link.serve(self._dispatch)
                except _Replaced as exc:
                    self._link = None
                    self._requests.fail(f"{exc}; not reconnecting")
                    log.warning("%s; not reconnecting to %s", exc, self._where)
                    self._presence.clear()
                    self._notify_status(RegistryStatus.DISCONNECTED, f"{exc}; not reconnecting")
                    self._registries.left()
                    return
                self._link = None
                lost = self._where
                self._registries.lost()
                self._requests.fail(f"lost the registry at {lost}: {reason}")
                log.info("lost the registry at %s (%s); reconnecting", lost, reason)
                self._notify_status(
                    RegistryStatus.RECONNECTING,
                    f"lost the registry at {lost} ({reason}); reconnecting",
                )
                await link.aclose()
                link, snapshot = await self._registries.reconnect(
                    self._registering(self._user, self._address),
                    lambda said: self._notify_status(RegistryStatus.RECONNECTING, said),
                )
                self._link = link
                tell_untold(link, self._watching)
                log.info("reconnected to the registry at %s", self._where)
                self._notify_status(
                    RegistryStatus.CONNECTED, f"reconnected to the registry at {self._where}"
                )
                self._presence.snapshot(snapshot, reconnected=True)
        finally:
            self._link = None
            await link.aclose()

    def _dispatch(self, message: ServerMessage) -> None:
        """Resolve the request an answer echoes, apply presence pushes, report errors."""
        rid = getattr(message, "rid", None)
        if rid is not None:
            self._requests.answered(rid, message)
        elif isinstance(message, Watched):  # the watches sent with a registration
            self._presence.changed(message.online, ())
        elif isinstance(message, PresenceChanged):
            self._presence.changed(message.joined, message.left)
        elif isinstance(message, Presence):
            self._presence.snapshot(message.online, reconnected=False)
        elif isinstance(message, Reachability):
            self._take_reachability(message)
        elif isinstance(message, RelayIncoming):
            if self.relay_offered is not None:
                self.relay_offered(message)
        elif isinstance(message, Error):
            if message.code == ErrorCode.REPLACED:
                raise _Replaced(f"{self._user} signed in from elsewhere with the same key")
            if message.code == ErrorCode.RELEASED:
                raise _Replaced(
                    f"the registry's operator released {self._user}; another key holds it now"
                )
            log.warning(
                "the registry at %s says: %r (%r)", self._where, message.message, message.code
            )

    # -- the listener ------------------------------------------------------------------------

    def _tell_presence(self, online: frozenset[str]) -> None:
        if self._listener is not None:
            try:
                self._listener.presence_changed(online)
            except Exception:
                log.exception("the directory listener failed on a presence change")

    def _notify_status(self, status: RegistryStatus, detail: str) -> None:
        self._status = status
        if status is not RegistryStatus.CONNECTED:
            self._reachability = _NOT_HEARD
        if self._listener is not None:
            try:
                self._listener.registry_status_changed(status, detail)
            except Exception:
                log.exception("the directory listener failed on a status change")
