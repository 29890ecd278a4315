"""The reachability probe: connect back to where a client listens, and see who answers.

The probe speaks the peer protocol as any chinwag peer would: the clear ``hello`` frame, then the
Noise XX handshake as initiator, but only as far as message 2, in which the responder proves its
identity key. If that is the key the client registered with, the client is reachable there. The
probe then closes without sending message 3: it never claims to be anybody, and the client's
listener just sees a handshake that was abandoned.

Probes are bounded: at most ``max_concurrent`` at once (more wait, and past ``max_waiting``
waiting ones a probe is not made at all), each within ``timeout`` seconds from connect to
message 2, results cached per (host, port, key) for ``cache_seconds``, and one probe of an
address at a time (a second asker shares the first one's answer). Which addresses are probed,
and how often, is :mod:`chinwag.adapters.registry.reachability`'s to decide; this only ever
connects to an IP literal (never a name to look up), and its ``detail`` texts are fixed: nothing
read from the other end is ever repeated to anybody.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass

from chinwag.adapters.secure.channel import Handshake, RemoteIdentity, SecureError, Security
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.wire.codec import HEADER_SIZE, encode
from chinwag.application.ports.directory import Reachability

log = logging.getLogger("chinwag.adapters.registry.server")

# The words of a ``reachability`` frame's ``reason``: the registry and its clients share them.
OK = Reachability.OK
NOT_LISTENING = Reachability.NOT_LISTENING
REFUSED = Reachability.REFUSED
TIMEOUT = Reachability.TIMEOUT
UNREACHABLE = Reachability.UNREACHABLE
WRONG_KEY = Reachability.WRONG_KEY
HANDSHAKE_FAILED = Reachability.HANDSHAKE_FAILED
NOT_PROBED = Reachability.NOT_PROBED

PROBE_TIMEOUT = 3.0
"""Seconds from connecting to the responder's message 2."""

MAX_CONCURRENT_PROBES = 64
MAX_WAITING_PROBES = 4096
"""Probes under way at once, and probes waiting for one of those places."""

PROBE_CACHE_SECONDS = 30.0
"""How long a probe's result answers for the same (host, port, key)."""

_MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe found: whether the client is reachable, a word for programs, and words for
    people."""

    reachable: bool
    reason: str
    detail: str = ""


LISTENING_NOWHERE = ProbeResult(
    False, NOT_LISTENING, "registered without a port: it accepts no connections"
)
PROBING_OFF = ProbeResult(False, NOT_PROBED, "this registry does not probe its clients")
NOT_AN_IP = ProbeResult(False, NOT_PROBED, "not probed: the registry probes IP addresses only")


class _Proven(Exception):
    """Raised from inside the handshake as soon as message 2 proved a key: message 3 is never
    written."""

    def __init__(self, key: bytes) -> None:
        super().__init__("proven")
        self.key = key


def _prove(remote: RemoteIdentity) -> None:
    raise _Proven(remote.key)


def _not_chinwag(at: str) -> ProbeResult:
    return ProbeResult(
        False, HANDSHAKE_FAILED, f"{at} accepted the connection but not a chinwag handshake"
    )


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Prober:
    """Connects back to clients' addresses, bounded and cached. ``security`` is the registry's
    (its Noise key starts the handshake; its identity is never revealed)."""

    def __init__(
        self,
        security: Security,
        *,
        timeout: float = PROBE_TIMEOUT,
        max_concurrent: int = MAX_CONCURRENT_PROBES,
        max_waiting: int = MAX_WAITING_PROBES,
        cache_seconds: float = PROBE_CACHE_SECONDS,
    ) -> None:
        if timeout <= 0 or max_concurrent < 1 or max_waiting < 0 or cache_seconds < 0:
            raise ValueError("need timeout > 0, max_concurrent >= 1, and no negative limits")
        self._security = security
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self.cache_seconds = cache_seconds
        self._places: asyncio.Semaphore | None = None
        self._waiting = 0
        self._cache: dict[tuple[str, int, bytes], tuple[float, ProbeResult]] = {}
        self._running: dict[tuple[str, int, bytes], asyncio.Task[ProbeResult]] = {}
        self.probes_made = 0
        """Connections made back so far (for tests and statistics)."""

    def cached(self, host: str, port: int, key: bytes) -> ProbeResult | None:
        """A fresh enough result for that address and key, if there is one."""
        entry = self._cache.get((host, port, key))
        if entry is None:
            return None
        if entry[0] < asyncio.get_running_loop().time():
            del self._cache[(host, port, key)]
            return None
        return entry[1]

    async def probe(self, host: str, port: int, key: bytes, *, fresh: bool = False) -> ProbeResult:
        """Whether ``key`` answers at ``host``:``port`` (from the cache unless ``fresh``)."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return NOT_AN_IP  # a name would be looked up: the caller should never ask
        where = (host, port, key)
        if not fresh:
            cached = self.cached(host, port, key)
            if cached is not None:
                return cached
        task = self._running.get(where)
        if task is None:
            if self._waiting >= self.max_waiting:
                return ProbeResult(
                    False, NOT_PROBED, "the registry is probing too many addresses now"
                )
            task = asyncio.get_running_loop().create_task(self._bounded(where))
            self._running[where] = task
            task.add_done_callback(lambda done: self._finished(where, done))
        # Shielded: one asker giving up (its client left) must not cancel the others' answer.
        return await asyncio.shield(task)

    def _finished(self, where: tuple[str, int, bytes], task: asyncio.Task[ProbeResult]) -> None:
        if self._running.get(where) is task:
            del self._running[where]
        if task.cancelled() or task.exception() is not None:
            return
        if len(self._cache) >= _MAX_CACHED:
            now = asyncio.get_running_loop().time()
            self._cache = {k: v for k, v in self._cache.items() if v[0] >= now}
            while len(self._cache) >= _MAX_CACHED:  # still full of fresh ones: drop the oldest
                del self._cache[next(iter(self._cache))]
        expires = asyncio.get_running_loop().time() + self.cache_seconds
        self._cache[where] = (expires, task.result())

    async def _bounded(self, where: tuple[str, int, bytes]) -> ProbeResult:
        if self._places is None:
            self._places = asyncio.Semaphore(self.max_concurrent)
        self._waiting += 1
        try:
            await self._places.acquire()
        finally:
            self._waiting -= 1
        try:
            self.probes_made += 1
            return await self._connect_back(*where)
        finally:
            self._places.release()

    async def _connect_back(self, host: str, port: int, key: bytes) -> ProbeResult:
        """One probe: connect, ``hello``, Noise message 1, read message 2, close."""
        at = _where(host, port)
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_MESSAGE)
                hello = encode(peer_protocol.hello())
                handshake = Handshake(
                    self._security,
                    initiator=True,
                    prologue=peer_protocol.PROLOGUE + hello,
                    expect=_prove,
                )
                writer.write(hello + handshake.start())
                while True:
                    data = await reader.read(MAX_MESSAGE + HEADER_SIZE)
                    if not data:
                        return _not_chinwag(at)
                    handshake.feed(data)  # raises _Proven at message 2
        except _Proven as proven:
            if proven.key == key:
                return ProbeResult(True, OK, f"reached {at}: it proved the registered key")
            return ProbeResult(False, WRONG_KEY, f"{at} answers with another key")
        except SecureError:  # its text may quote what the other end sent: never repeated
            return _not_chinwag(at)
        except TimeoutError:
            return ProbeResult(
                False, TIMEOUT, f"no answer from {at} within {self.timeout:g} s (a firewall?)"
            )
        except ConnectionRefusedError:
            return ProbeResult(False, REFUSED, f"{at} refused the connection (nothing listens)")
        except OSError as exc:
            if writer is not None:  # connected, then reset
                return _not_chinwag(at)
            log.debug("probing %s: %s", at, exc)
            return ProbeResult(False, UNREACHABLE, f"cannot reach {at} (no route to it)")
        finally:
            if writer is not None:
                writer.transport.abort()

    async def close(self) -> None:
        """Stop every probe under way."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
