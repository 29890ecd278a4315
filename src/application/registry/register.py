"""``register``: a session signs in with a name bound to its key, and holds it here.

From ``adapters/registry/registrar.py`` (88-239), onto the ports: the name store decides who a
name is bound to (the first key wins; a binding the operator released is read again before the
old key is let in), the presence store makes the name online network-wide (and publishes the
join itself), and a previous holder of the name is ended: here directly, on another registry
through the router. The join goes to this registry's own fan-out (:class:`FanOut`, the
``PresenceFanOut``) as the store took it, and the fan-out makes the session's first ``presence``.
The answer is a :class:`Registered` (``registered`` and that snapshot) or a :class:`Refusal`, in
today's words.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from chinwag.application.registry.admission import NameAdmission
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import NameStore
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.ports.relay_router import RelayRouter
from chinwag.application.registry.sessions import ClientSession, LocalClients, LocalRegistration
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.registry.addresses import is_unspecified
from chinwag.domain.registry.binding import judge_bound, judge_claim, judge_new_name
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.registry.refusals import KickCode, Refusal, RefusalCode
from chinwag.domain.user import InvalidAddress, normalize_username, validate_host

log = logging.getLogger(__name__)

VERSIONS: tuple[int, ...] = (2,)
"""Protocol versions a ``register`` may ask for (``protocol.PROTOCOL_VERSION`` today; wire
version 3 adds itself here)."""

EVERYONE_LIMIT = 100_000
"""Names at most in a snapshot of everyone online read from the store (without a fan-out)."""

CANNOT_BIND = Refusal(RefusalCode.BUSY, "the registry cannot record new names now")
CANNOT_JOIN = Refusal(RefusalCode.BUSY, "the registry cannot sign anybody in now; try again later")


@dataclass(frozen=True, slots=True)
class Registered:
    """A sign-in done: the name as registered, where it listens (``host`` as recorded: the
    client's own address for a wildcard), and ``online``, the client's first ``presence``
    (sorted; it holds the client itself)."""

    name: str
    host: str | None
    port: int | None
    online: list[str]


class FanOut(Protocol):
    """What a sign-in tells this registry's presence fan-out (``PresenceFanOut`` is one)."""

    def local(self, change: PresenceChange) -> None:
        """A change made here, once the store took it (the sessions told about it are told)."""
        ...

    async def snapshot(self, session: ClientSession) -> list[str]:
        """The whole presence set of ``session``, just registered (what its outbox held is in
        it, and forgotten); StoreUnavailable if it cannot be made."""
        ...


def _speaks(versions: Collection[int]) -> str:
    ordered = sorted(versions)
    if len(ordered) == 1:
        return f"version {ordered[0]}"
    return "versions " + ", ".join(map(str, ordered[:-1])) + f" and {ordered[-1]}"


class Register:
    """Sign a session in under a name: ``execute`` once per ``register`` request. A connection
    reads no request while its ``register`` is under way, so one session runs one at a time;
    other sessions' requests (and registrations) run meanwhile."""

    def __init__(
        self,
        names: NameStore,
        presence: PresenceStore,
        router: RelayRouter,
        clients: LocalClients,
        admission: NameAdmission,
        stats: RegistryStats,
        fanout: FanOut | None = None,
        versions: Collection[int] = VERSIONS,
        everyone_limit: int = EVERYONE_LIMIT,
    ) -> None:
        self._names = names
        self._presence = presence
        self._router = router
        self._clients = clients
        self._admission = admission
        self._stats = stats
        self._fanout = fanout
        """None: nobody here is told of changes, and the snapshot is everyone online (the use
        case alone, as in its tests)."""
        self._versions = frozenset(versions)
        self._everyone_limit = everyone_limit

    async def execute(
        self,
        session: ClientSession,
        user: str,
        host: str | None,
        port: int | None,
        version: int,
    ) -> Registered | Refusal | None:
        """Register ``session``'s key as ``user``, listening at ``host``:``port`` (``port``
        None: it accepts no connections). None if the session closed meanwhile (nothing to
        answer)."""
        result = await self._register(session, user, host, port, version)
        if isinstance(result, Refusal):
            self._stats.registrations[result.code.value] += 1
        elif result is not None:
            self._stats.registrations["ok"] += 1
        return result

    async def _register(
        self,
        session: ClientSession,
        user: str,
        host: str | None,
        port: int | None,
        version: int,
    ) -> Registered | Refusal | None:
        if session.registration is not None:
            return Refusal(
                RefusalCode.ALREADY_REGISTERED,
                f"this connection is already registered as {session.registration.name}",
            )
        if version not in self._versions:
            return Refusal(
                RefusalCode.UNSUPPORTED_VERSION,
                f"protocol version {version} is not supported; this registry speaks "
                f"{_speaks(self._versions)}",
            )
        try:
            name = normalize_username(user)
        except InvalidUsername as exc:
            return Refusal(RefusalCode.INVALID_USERNAME, str(exc))
        if port is None:
            host = None  # accepts no connections: there is no address to record
        elif host is None or is_unspecified(host):
            host = session.address  # listening everywhere: where it connects from
        else:
            try:
                host = validate_host(host)
            except InvalidAddress as exc:
                return Refusal(RefusalCode.INVALID_ADDRESS, str(exc))
        bound = self._names.cached_key(name)
        refusal = judge_claim(name, session.key, bound, session.names_claimed)
        if refusal is None:
            if bound is None:
                refusal = await self._bind(session, name)
            else:
                refusal = await self._confirm(session, name)
        if refusal is not None:
            return refusal
        if session.closed:
            return None
        return await self._complete(session, name, host, port, version)

    async def _bind(self, session: ClientSession, name: str) -> Refusal | None:
        """Bind ``name``, bound to nobody, to the session's key; the first binding wins."""
        key = session.key
        try:
            refusal = await self._admission.admit(name, key, session.address)
        except StoreUnavailable as exc:
            log.warning("could not check %s against the bound names: %s", name, exc)
            return CANNOT_BIND
        if refusal is not None:
            return refusal
        session.names_claimed.add(name)
        try:
            result = await self._admission.bind(name, key)
        except StoreUnavailable as exc:
            log.warning("could not bind %s: %s", name, exc)
            return CANNOT_BIND
        if result.bound_key is None:  # a lookalike was bound first, elsewhere
            return judge_new_name(name, result.lookalike) or Refusal(
                RefusalCode.NAME_TAKEN, f"{name} is registered to another key"
            )
        refusal = judge_bound(name, key, result.bound_key)
        if refusal is None:
            log.info("%s is now bound to a key, from %s", name, session.address)
        return refusal

    async def _confirm(self, session: ClientSession, name: str) -> Refusal | None:
        """``name`` was bound when this registry last looked: the store decides (the operator
        may have released it since, and then the old key must not sign in with it any more)."""
        try:
            current = await self._names.key_of(name)
        except StoreUnavailable as exc:
            # As NameBook.refresh did: the read is only to notice a release, so go on with
            # what this registry knew.
            log.warning("cannot read %r's binding again: %s", name, exc)
            current = self._names.cached_key(name)
        if current is None:  # released: a new name again
            return await self._bind(session, name)
        return judge_bound(name, session.key, current)

    async def _complete(
        self,
        session: ClientSession,
        name: str,
        host: str | None,
        port: int | None,
        version: int,
    ) -> Registered | Refusal | None:
        key = session.key
        session.names_claimed.add(name)
        clients = self._clients
        registration = LocalRegistration(name, host, port, key, clients.new_epoch())
        entry = OnlineEntry(name, key, host, port, clients.registry, registration.epoch, version)
        try:
            previous = await self._presence.join(entry)  # publishes the join
        except StoreUnavailable as exc:
            log.warning("could not sign %s in: %s", name, exc)
            return CANNOT_JOIN
        if session.closed or session.registration is not None:
            await self._take_back(name, registration.epoch)
            if session.closed:
                return None
            return Refusal(RefusalCode.ALREADY_REGISTERED, "this connection is registered")
        session.version = version
        session.registration = registration
        replaced = clients.put(session)
        self._count()
        if replaced is not None:
            self._end_local(replaced, session)
        elif previous is not None and previous.registry != clients.registry:
            await self._end_remote(previous, session)
        elif port is None:
            log.info("%s joined from %s, accepting no connections", name, session.address)
        else:
            log.info("%s joined from %s, listening at %s:%d", name, session.address, host, port)
        if self._fanout is not None:  # after `put`: the fan-out skips the session that joined
            self._fanout.local(PresenceChange(name, True, registration.epoch, clients.registry))
        return Registered(name, host, port, await self._snapshot(session, name))

    async def _take_back(self, name: str, epoch: str) -> None:
        """Undo a join whose session is gone (or signed in otherwise) meanwhile."""
        try:
            await self._presence.leave(name, epoch)
        except StoreUnavailable as exc:
            log.warning("could not take %s's sign-in back: %s", name, exc)

    def _end_local(self, previous: ClientSession, session: ClientSession) -> None:
        """End the registration of ``previous``, the session here that held the name."""
        registration = previous.registration
        assert registration is not None
        previous.registration = None  # its disconnect is no leave: the name stays online
        name = registration.name
        if registration.key != session.key:  # released, and bound to this key since
            previous.client.kick(
                KickCode.RELEASED,
                f"{name} was released by the registry's operator and is another key's now",
            )
        else:
            previous.client.kick(
                KickCode.REPLACED, f"{name} signed in again from another connection"
            )
            log.info(
                "%s reconnected from %s (replaces %s)", name, session.address, previous.address
            )

    async def _end_remote(self, previous: OnlineEntry, session: ClientSession) -> None:
        """End ``previous``, the name's registration on another registry of the network."""
        same_key = previous.key == session.key
        code = KickCode.REPLACED if same_key else KickCode.RELEASED
        log.info(
            "%s signed in from %s (replaces its sign-in on %s)",
            previous.name,
            session.address,
            previous.registry,
        )
        try:
            await self._router.kick(previous, code)
        except StoreUnavailable as exc:
            log.warning("could not tell %s's old registry: %s", previous.name, exc)

    async def _snapshot(self, session: ClientSession, name: str) -> list[str]:
        """The session's first ``presence``: the fan-out's (itself, the names it watches that
        are online, everyone while everyone is told); without one, everyone online. Without
        the store, what this registry holds."""
        try:
            if self._fanout is not None:
                return await self._fanout.snapshot(session)
            online = set(await self._presence.everyone(self._everyone_limit))
        except StoreUnavailable as exc:
            log.warning("could not read who is online for %s: %s", name, exc)
            online = set(self._clients.names())
        online.add(name)
        return sorted(online)

    def _count(self) -> None:
        self._stats.registered_clients = len(self._clients)
        self._stats.legacy_clients = len(self._clients.legacy())
