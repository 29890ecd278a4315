"""The registry client: the :class:`~chinwag.application.ports.directory.Directory` port over TCP.

Every connection starts with the registry's clear ``welcome`` and a Noise handshake in which
the registry proves its key: the key pinned for this registry address on first use, or the one
given with ``--registry-key``; any other is refused (``registry_key_changed``) before this client
says who it is (:mod:`chinwag.adapters.registry.link`). This client's own identity key, proven
in the same handshake, is what the registry binds our name to.

Once signed in, one background task owns the connection: it reads every frame (answers resolve
the pending request with the same ``rid``; presence pushes update the online set), pings every
heartbeat interval, and when the connection dies it reconnects with capped, jittered exponential
backoff and registers again with the same name and address.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from chinwag.adapters.registry.link import Link, RegistryGate, location, refusal
from chinwag.adapters.registry.pins import RegistryPins, registry_address
from chinwag.adapters.registry.presence_view import PRESENCE_GRACE, PresenceView
from chinwag.adapters.registry.protocol import (
    PROTOCOL_VERSION,
    Error,
    ErrorCode,
    Found,
    Lookup,
    Presence,
    PresenceChanged,
    ProbeMe,
    Reachability,
    Register,
    Registered,
    Relay,
    RelayIncoming,
    ServerMessage,
    Unregister,
    dump,
)
from chinwag.adapters.secure.channel import (
    Security,
)
from chinwag.application.errors import (
    ChatError,
    NotSignedIn,
    RegistryKeyChanged,
    RegistryUnavailable,
)
from chinwag.application.ports.directory import (
    DirectoryListener,
    PeerLocation,
    RegistryStatus,
    SelfReachability,
)
from chinwag.application.ports.directory import Reachability as Cause
from chinwag.application.registry.who import case_map
from chinwag.domain.errors import DomainError
from chinwag.domain.user import PeerAddress, normalize_username, valid_usernames

log = logging.getLogger(__name__)

_FIRST_RETRY_DELAY = 0.1
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

    Our identity key (in ``security``) is what the registry binds our name to: registering again
    with it replaces our own previous connection, so a reconnect is not refused while the
    registry still holds our dead one. ``pins`` remembers each registry's key by address;
    ``registry_key`` (a fingerprint) pins this one explicitly, overriding and updating the pin.
    """

    def __init__(
        self,
        host: str,
        port: int,
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
        self._host = host
        self._port = port
        self._gate = RegistryGate(
            registry_address(host, port), security, pins, registry_key, heartbeat_interval
        )
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._reconnect_cap = max(reconnect_cap, _FIRST_RETRY_DELAY)
        self._key_changed_cap = key_changed_cap
        self._where = registry_address(host, port)
        self._rids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ServerMessage]] = {}
        self._presence = PresenceView(self._tell_presence, presence_grace)
        self._listener: DirectoryListener | None = None
        self._user = ""
        self._address: PeerAddress | None = None
        self._link: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = RegistryStatus.DISCONNECTED
        self._reachability = _NOT_HEARD
        self._watched: set[str] = set()
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
        """Kept for the session; a version 2 registry tells everyone everything anyway."""
        self._watched.update(valid_usernames(names))

    async def unwatch(self, names: Collection[str]) -> None:
        self._watched.difference_update(valid_usernames(names))

    def watched(self) -> frozenset[str]:
        return frozenset(self._watched)

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        """A version 2 registry pushes everyone online: search what it pushed."""
        if self._status is not RegistryStatus.CONNECTED:
            raise RegistryUnavailable(f"the registry at {self._where} is out of reach")
        start = case_map(prefix)
        return sorted(name for name in self.online() if name.startswith(start))[:limit]

    def status(self) -> RegistryStatus:
        return self._status

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

    async def open_leg(self, then: Callable[[Link], Awaitable[T]], timeout: float) -> T:
        """A new secure connection to the registry, not registered, handed to ``then``, all
        within ``timeout`` seconds."""
        return await self._gate.connect(
            self._host, self._port, self._connect_timeout, timeout, then
        )

    # -- requests ----------------------------------------------------------------------------

    async def request(
        self, make: Callable[[int], Lookup | Unregister | Relay | ProbeMe]
    ) -> ServerMessage:
        """Send the request ``make(rid)`` and wait for the answer that echoes ``rid``."""
        if self._listener is None:
            raise NotSignedIn("sign in to the registry first")
        link = self._link
        if link is None:
            raise RegistryUnavailable(
                f"not connected to the registry at {self._where}; reconnecting"
            )
        rid = next(self._rids)
        future: asyncio.Future[ServerMessage] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            link.send(dump(make(rid)))
            async with asyncio.timeout(self._request_timeout):
                return await future
        except TimeoutError:
            raise RegistryUnavailable(
                f"the registry at {self._where} did not answer within {self._request_timeout:g} s"
            ) from None
        finally:
            self._pending.pop(rid, None)

    # -- the connection ----------------------------------------------------------------------

    async def _connect(self, name: str, address: PeerAddress | None) -> tuple[Link, frozenset[str]]:
        """Connect, run the handshake and register; return the link and the online snapshot."""

        async def register(link: Link) -> tuple[Link, frozenset[str]]:
            return link, await self._register(link, name, address)

        return await self._gate.connect(
            self._host, self._port, self._connect_timeout, self._request_timeout, register
        )

    async def _register(self, link: Link, name: str, address: PeerAddress | None) -> frozenset[str]:
        link.send(
            dump(
                Register(
                    version=PROTOCOL_VERSION,
                    user=name,
                    host=address.host if address is not None else None,
                    port=address.port if address is not None else None,
                )
            )
        )
        answer = await link.next()
        if not isinstance(answer, Registered):
            raise refusal(answer, self._where)
        while True:
            message = await link.next()
            if isinstance(message, Presence):
                return frozenset(message.online)
            if isinstance(message, Reachability):
                self._take_reachability(message)

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
                    self._fail_pending(str(exc))
                    log.warning("%s; not reconnecting to %s", exc, self._where)
                    self._presence.clear()
                    self._notify_status(RegistryStatus.DISCONNECTED, f"{exc}; not reconnecting")
                    return
                self._link = None
                self._fail_pending(reason)
                log.info("lost the registry at %s (%s); reconnecting", self._where, reason)
                self._notify_status(
                    RegistryStatus.RECONNECTING,
                    f"lost the registry at {self._where} ({reason}); reconnecting",
                )
                await link.aclose()
                link, snapshot = await self._reconnect()
                self._link = link
                log.info("reconnected to the registry at %s", self._where)
                self._notify_status(
                    RegistryStatus.CONNECTED, f"reconnected to the registry at {self._where}"
                )
                self._presence.snapshot(snapshot, reconnected=True)
        finally:
            self._link = None
            await link.aclose()

    def _fail_pending(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    RegistryUnavailable(f"lost the registry at {self._where}: {reason}")
                )

    def _dispatch(self, message: ServerMessage) -> None:
        """Resolve the request an answer echoes, apply presence pushes, report errors."""
        rid = getattr(message, "rid", None)
        if rid is not None:
            future = self._pending.get(rid)
            if future is not None and not future.done():
                future.set_result(message)
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

    async def _reconnect(self) -> tuple[Link, frozenset[str]]:
        """Connect and register again, retrying with capped, jittered exponential backoff.

        A registry proving another key will not change its mind in a few seconds: it is said
        once (loudly) until the reason changes, and retried ever more slowly, up to
        ``key_changed_cap``, instead of every ``reconnect_cap``."""
        delay = _FIRST_RETRY_DELAY
        said = ""
        while True:
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
            cap = self._reconnect_cap
            try:
                return await self._connect(self._user, self._address)
            except RegistryKeyChanged as exc:  # loud: somebody may pose as the registry
                cap = self._key_changed_cap
                if str(exc) != said:
                    log.warning("not reconnecting to %s yet: %s", self._where, exc)
                    self._notify_status(RegistryStatus.RECONNECTING, str(exc))
                else:
                    log.debug("the registry at %s still proves another key", self._where)
                said = str(exc)
            except DomainError as exc:  # unavailable, or our ghost still holds the name
                log.info("reconnecting to the registry at %s: %s", self._where, exc)
                said = ""
            delay = min(delay * 2, max(cap, _FIRST_RETRY_DELAY))

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
