"""A load generator that speaks the registry's real protocol, version 3, for the scale test and
the presence benchmarks.

Each :class:`WatchingClient` is one cheap ``asyncio.Protocol`` (``secure_load.SecureClient``:
TCP, the registry's clear welcome, the Noise handshake with a key of its own, records) that
registers with ``version: 3`` and its ``watch`` list, pings as a real client must to stay, and
counts the ``presence_changed`` frames it is pushed. A :class:`Fleet` signs thousands of them in
(``concurrency`` handshakes in flight, spread over loopback source addresses 127.0.0.2, .3, ...
since a registry admits 1,000 connections per address), keeps them alive, and measures what the
issue asks about:

- :meth:`Fleet.toggle`: one client signs out (``unregister``) or in again (``register``); how
  long until every watcher of that name was pushed the change (one clock: this process's), and
  how many ``presence_changed`` frames the whole fleet received meanwhile: the watchers' count,
  not everyone online, if a change costs what it should.
- :meth:`Fleet.lookups`: one client's lookups, one in flight, each timed.

Nothing here is a test double: the registry cannot tell these clients from the product's
(``chinwag.adapters.registry.client`` speaks the same frames), they are only cheaper to run by
the ten thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.client import ClientProtocol
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

from benchmarks.passthrough import SECURITY
from benchmarks.secure_load import SecureClient
from chinwag.adapters.registry.protocol import Lookup, Ping, Register, Unregister, dump
from chinwag.adapters.registry.ws_stream import WsEnd, quiet_logger
from chinwag.adapters.secure.channel import SecureError
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.wire.codec import encode

WATCHING_VERSION = 3
PER_SOURCE = 900
"""Clients per loopback source address at most: under the registry's 1,000 per address."""
PING = encode(dump(Ping()))
PING_EVERY = 4.0
"""Seconds between an idle client's pings: under the registry's 15 s idle timeout (its
``heartbeat_interval`` is 5 s)."""
SIGN_IN_TIMEOUT = 30.0
MISTAKEN_FOR_V1 = "unsupported_version"
"""A refusal the registry may give a handshake whose first byte looks like JSON (see
``bench_registry.MISTAKEN_FOR_V1``): that connection is tried again."""

_PRESENCE_CHANGED = b'{"type":"presence_changed"'
_REGISTERED = b'{"type":"registered"'
_PONG = b'{"type":"pong"'


class WatchingClient(SecureClient):
    """One version 3 session: registers ``name`` watching ``watch``, then counts its pushes."""

    def __init__(self, fleet: Fleet, name: str, watch: Sequence[str], kind: str = "noise") -> None:
        super().__init__(SECURITY[kind](LocalKeys.generate()))
        self.fleet = fleet
        self.name = name
        self.watch = list(watch)
        self.registered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pushes = 0
        """``presence_changed`` frames received."""
        self.online: set[str] = set()
        """The presence set as pushed (``presence``, then its changes)."""
        self.dropped = False
        self._rids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    # -- requests ------------------------------------------------------------------------------

    def session_ready(self) -> None:
        self.register()

    def register(self) -> None:
        """Sign in (again): ``registered`` resolves :attr:`registered`."""
        if self.registered.done():
            self.registered = asyncio.get_running_loop().create_future()
        request = Register(version=WATCHING_VERSION, user=self.name, watch=self.watch or None)
        self.send(encode(dump(request)))

    def request(self, make: Callable[[int], Any]) -> asyncio.Future[dict[str, Any]]:
        """Send ``make(rid)`` (a request DTO); its answer (the parsed frame) resolves the
        future."""
        rid = next(self._rids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = answer
        self.send(encode(dump(make(rid))))
        return answer

    def unregister(self) -> asyncio.Future[dict[str, Any]]:
        return self.request(lambda rid: Unregister(rid=rid))

    def lookup(self, user: str) -> asyncio.Future[dict[str, Any]]:
        return self.request(lambda rid: Lookup(rid=rid, user=user))

    def ping(self) -> None:
        if not self.closing and self.registered.done() and not self.registered.exception():
            self.send(PING)

    # -- what arrives --------------------------------------------------------------------------

    def frames_received(self, frames: list[bytes]) -> None:
        now = time.perf_counter()
        for frame in frames:
            if frame.startswith(_PONG):
                continue
            if frame.startswith(_PRESENCE_CHANGED):
                self.pushes += 1
                change = json.loads(frame)
                joined, left = change.get("joined", []), change.get("left", [])
                self.online.update(joined)
                self.online.difference_update(left)
                self.fleet.pushed(self, joined, left, now)
                continue
            if frame.startswith(_REGISTERED):
                if not self.registered.done():
                    self.registered.set_result(None)
                continue
            message = json.loads(frame)
            kind, rid = message.get("type"), message.get("rid")
            if kind == "presence":
                self.online = set(message["online"])
            elif rid is not None and rid in self._waiting:
                self._waiting.pop(rid).set_result(message)
            elif kind == "error" and not self.registered.done():
                self.registered.set_exception(ConnectionError(frame.decode()[:300]))

    def failed(self, exc: BaseException) -> None:
        self.dropped = True
        if not self.registered.done():
            self.registered.set_exception(exc)
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(exc)
        self._waiting.clear()


class WsLoadEnd(WsEnd):
    """A load client over the registry's WebSocket binding: the upgrade to ``url``, then
    ``client`` on the product's :class:`~chinwag.adapters.registry.ws_stream.WsTransport` (one
    codec frame per binary message), as ``ws_client.open_ws`` does without the streams."""

    def __init__(self, client: SecureClient, url: str) -> None:
        super().__init__(
            ClientProtocol(parse_uri(url), max_size=MAX_MESSAGE, logger=quiet_logger())
        )
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(self._ws, ClientProtocol)
        self._ws.send_request(self._ws.connect())
        self.flush()

    def _handshake(self, event: Request | Response) -> None:
        assert isinstance(event, Response) and self._sock is not None
        if self._ws.handshake_exc is not None or event.status_code != 101:
            self.client.failed(ConnectionError(f"no WebSocket upgrade: {event.status_code}"))
            self.abort()
            return
        self._open(self.client, self._sock.get_extra_info("peername"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.facade is None:
            self.client.failed(ConnectionError(f"closed before the upgrade ({exc})"))
        super().connection_lost(exc)


@dataclass
class Toggle:
    """One presence change measured: who should hear it and what the fleet heard."""

    name: str
    online: bool
    watchers: int
    """Signed-in clients watching ``name`` (the client itself aside)."""
    started: float
    heard: list[float] = field(default_factory=list)
    """Seconds from the request to each watcher's push naming the change."""
    pushes_before: int = 0
    pushes_after: int = 0
    """``presence_changed`` frames the whole fleet had received before and after."""
    wrong: int = 0
    """Pushes naming the change to clients that do not watch ``name``."""

    @property
    def pushes(self) -> int:
        return self.pushes_after - self.pushes_before

    @property
    def slowest(self) -> float:
        return max(self.heard, default=math.inf)


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


class Fleet:
    """Many :class:`WatchingClient` on one registry: signed in, kept alive, measured."""

    def __init__(
        self, host: str, port: int, *, kind: str = "noise", sources: int = 0, ws: bool = False
    ) -> None:
        """``ws``: ``port`` is the registry's WebSocket listener (path ``/chinwag``)."""
        self.host, self.port, self.kind, self.ws = host, port, kind, ws
        self.sources = sources
        """Loopback source addresses to spread over (0: as many as the clients need)."""
        self.clients: dict[str, WatchingClient] = {}
        self.watchers: dict[str, set[str]] = {}
        self.errors: list[str] = []
        self.retries = 0
        self.pushes = 0
        self._toggle: Toggle | None = None
        self._waiting_for: set[str] = set()
        self._all_heard: asyncio.Event | None = None
        self._pinger: asyncio.Task[None] | None = None

    # -- signing in ----------------------------------------------------------------------------

    async def sign_in(
        self, watches: Mapping[str, Sequence[str]], concurrency: int = 32, port: int | None = None
    ) -> tuple[int, float]:
        """Sign every name of ``watches`` in with its watch list, ``concurrency`` at a time, on
        ``port`` (another registry of the same network; default the fleet's); (signed in,
        seconds it took). Failures are in :attr:`errors`."""
        for name, watch in watches.items():
            for watched in watch:
                self.watchers.setdefault(watched, set()).add(name)
        sources = self.sources or max(1, math.ceil((len(self.clients) + len(watches)) / PER_SOURCE))
        todo = iter(enumerate(watches.items(), start=len(self.clients)))
        started = time.perf_counter()

        async def lane() -> None:
            for index, (name, watch) in todo:
                source = f"127.0.0.{2 + index % sources}"
                try:
                    self.clients[name] = await self._sign_in_one(name, watch, source, port)
                except (OSError, SecureError, TimeoutError, ConnectionError) as exc:
                    self.errors.append(f"{name}: {exc!r}"[:200])

        if self._pinger is None:  # from the first: a sign-in of thousands outlasts the timeout
            self._pinger = asyncio.create_task(self._ping())
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return sum(1 for name in watches if name in self.clients), time.perf_counter() - started

    async def _sign_in_one(
        self, name: str, watch: Sequence[str], source: str, port: int | None
    ) -> WatchingClient:
        loop = asyncio.get_running_loop()
        for _ in range(5):
            client = WatchingClient(self, name, watch, self.kind)
            await loop.create_connection(
                self._protocol(client),
                self.host,
                port or self.port,
                local_addr=(source, 0),
            )
            try:
                await asyncio.wait_for(asyncio.shield(client.registered), SIGN_IN_TIMEOUT)
            except SecureError as exc:
                client.close()
                if exc.code != MISTAKEN_FOR_V1:
                    raise
                self.retries += 1
                continue
            except BaseException:
                client.close()
                raise
            return client
        raise ConnectionError(f"{name} was refused as a version-1 client 5 times")

    def _protocol(self, client: WatchingClient) -> Callable[[], asyncio.Protocol]:
        if self.ws:
            url = f"ws://{self.host}:{self.port}/chinwag"
            return lambda: WsLoadEnd(client, url)
        return lambda: client

    async def _ping(self) -> None:
        for turn in itertools.count():
            await asyncio.sleep(PING_EVERY / 4)
            clients = list(self.clients.values())
            for client in clients[turn % 4 :: 4]:
                client.ping()

    def alive(self) -> int:
        return sum(1 for c in self.clients.values() if not c.dropped and not c.closing)

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        for client in self.clients.values():
            client.close()
        await asyncio.sleep(0.1)

    # -- presence ------------------------------------------------------------------------------

    def pushed(
        self, client: WatchingClient, joined: list[str], left: list[str], now: float
    ) -> None:
        """Every ``presence_changed`` of every client (called by the clients)."""
        self.pushes += 1
        toggle = self._toggle
        if toggle is None:
            return
        if toggle.name not in (joined if toggle.online else left):
            return
        if client.name in self._waiting_for:
            self._waiting_for.discard(client.name)
            toggle.heard.append(now - toggle.started)
            if not self._waiting_for and self._all_heard is not None:
                self._all_heard.set()
        elif client.name not in self.watchers.get(toggle.name, ()):
            toggle.wrong += 1

    async def quiet(self, seconds: float = 0.5, deadline: float = 15.0) -> None:
        """Wait until no push arrived for ``seconds`` (the sign-ins' pushes are over)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            before = self.pushes
            await asyncio.sleep(seconds)
            if self.pushes == before:
                return
        raise TimeoutError(f"pushes still arriving after {deadline:g} s")

    async def toggle(
        self, name: str, online: bool, timeout: float = 10.0, settle: float = 0.5
    ) -> Toggle:
        """Sign ``name`` out (``online=False``) or in again; wait until every watcher was pushed
        the change (or ``timeout``), then ``settle`` seconds more for pushes that should not
        come."""
        client = self.clients[name]
        watchers = {w for w in self.watchers.get(name, ()) if w != name and w in self.clients}
        self._waiting_for = set(watchers)
        self._all_heard = asyncio.Event()
        toggle = Toggle(name, online, len(watchers), time.perf_counter(), pushes_before=self.pushes)
        self._toggle = toggle
        if online:
            client.register()
            answer: asyncio.Future[Any] = client.registered
        else:
            answer = client.unregister()
        await asyncio.wait_for(answer, timeout)
        if watchers:
            with contextlib.suppress(TimeoutError):  # the caller sees fewer heard
                await asyncio.wait_for(self._all_heard.wait(), timeout)
        await asyncio.sleep(settle)
        toggle.pushes_after = self.pushes
        self._toggle = None
        return toggle

    # -- lookups -------------------------------------------------------------------------------

    async def lookups(self, asker: str, targets: Sequence[str], count: int) -> list[float]:
        """``count`` lookups by ``asker``, one in flight, of ``targets`` in turn: seconds each."""
        client = self.clients[asker]
        took = []
        for i in range(count):
            started = time.perf_counter()
            answer = await asyncio.wait_for(client.lookup(targets[i % len(targets)]), 10)
            took.append(time.perf_counter() - started)
            if answer.get("type") != "found":
                raise AssertionError(f"lookup answered {answer}")
        return took


async def lookup_rate(
    askers: Sequence[WatchingClient], targets: Sequence[str], depth: int, seconds: float
) -> float:
    """Lookups/s of ``askers`` keeping ``depth`` lookups each in flight, of ``targets`` in turn,
    over ``seconds`` (after a warm-up of a quarter of it)."""
    answered = [0]
    running = True

    async def keep(client: WatchingClient, offset: int) -> None:
        turn = offset
        while running:
            await client.lookup(targets[turn % len(targets)])
            turn += 1
            answered[0] += 1

    lanes = [
        asyncio.create_task(keep(client, i * 7 + k))
        for i, client in enumerate(askers)
        for k in range(depth)
    ]
    await asyncio.sleep(seconds / 4)
    before, started = answered[0], time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (answered[0] - before) / (time.perf_counter() - started)
    running = False
    await asyncio.wait(lanes, timeout=10)
    return rate


def ring_watches(count: int, each: int, prefix: str = "u") -> dict[str, list[str]]:
    """``count`` names, each watching the ``each`` names after it on a ring: every name has
    exactly ``each`` watchers."""
    names = [f"{prefix}{i}" for i in range(count)]
    return {
        names[i]: [names[(i + k) % count] for k in range(1, each + 1) if (i + k) % count != i]
        for i in range(count)
    }
