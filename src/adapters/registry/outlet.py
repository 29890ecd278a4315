"""What a registry connection writes, and how it ends: the output side of
:class:`~chinwag.adapters.registry.connection.Connection` (which reads, answers and keeps the
deadlines). Frames queued in a loop pass leave in one record; pushes made while a request is
under way follow its answer; the session's
:class:`~chinwag.application.registry.ports.client.ClientPort` calls become frames here; a relay
leg's bytes are sealed as they are; a peer that does not read is dropped, never buffered
without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from chinwag.adapters.registry import answers
from chinwag.adapters.registry.frames import error_frame
from chinwag.adapters.registry.protocol import ErrorCode
from chinwag.adapters.secure.channel import CLOSE_GRACE, RecordLayer
from chinwag.domain.registry.refusals import KickCode

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection
    from chinwag.adapters.registry.relay_session import RelayLeg
    from chinwag.adapters.registry.server import RegistryServer

log = logging.getLogger("chinwag.adapters.registry.server")

_MAX_LOGGED_VIOLATIONS = 5


class Outlet:
    """The output side of a connection; :class:`Connection` sets every attribute below in its
    ``__init__``."""

    _server: RegistryServer
    _loop: asyncio.AbstractEventLoop
    _transport: asyncio.Transport | None
    _records: RecordLayer | None
    _outbox: list[bytes]
    _closing: bool
    _busy: bool
    _pushed: list[tuple[bytes, bool]]
    _abort_handle: asyncio.TimerHandle | None
    _violations: int
    _became_leg: asyncio.Future[None]
    peer: str
    leg: RelayLeg | None

    def _me(self) -> Connection:
        """This object as the connection it is (what the server and the relay take)."""
        return cast("Connection", self)

    # -- used by the server ------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue ``frame``; it leaves with this pass's other frames."""
        if self._closing:
            return
        if not self._outbox:
            self._server._mark_dirty(self._me())
        self._outbox.append(frame)

    def push(self, frame: bytes, presence: bool = False) -> None:
        """Queue a push: after the answer of the request under way, if one is (``presence``:
        a presence frame, which a snapshot made meanwhile makes stale)."""
        if self._closing:
            return
        if self._busy:
            self._pushed.append((frame, presence))
        else:
            self.send(frame)

    def snapshot_taken(self) -> None:
        """The client's whole presence set was just made, to follow the answer under way: the
        presence pushes held for after it are older, and would undo it."""
        self._pushed = [(frame, presence) for frame, presence in self._pushed if not presence]

    # -- the ClientPort of its session -------------------------------------------------------

    def presence(self, online: Sequence[str]) -> None:
        self.push(answers.presence(list(online)), presence=True)

    def presence_changed(self, joined: Sequence[str], left: Sequence[str]) -> None:
        self.push(answers.presence_changed(tuple(joined), tuple(left)), presence=True)

    def relay_incoming(
        self, sid: str, from_: str, timeout: float, via: Sequence[str] | None
    ) -> None:
        self.push(answers.relay_incoming(sid, from_, timeout, None if via is None else list(via)))

    def kick(self, code: KickCode, text: str) -> None:
        """The registration ended elsewhere (``replaced``, ``released``): say so and close."""
        self.close(error_frame(ErrorCode(code.value), text), code.value)

    def flush(self) -> None:
        """Write every queued frame at once (one record); drop the peer if its unread output is
        too big. Before the session exists only refusals are queued, and they go in clear."""
        if not self._outbox or self._closing or self._transport is None:
            return
        data = b"".join(self._outbox)
        self._outbox.clear()
        self._transport.write(data if self._records is None else self._records.seal(data))
        if self._transport.get_write_buffer_size() > self._server.max_write_buffer:
            self.violation("does not read its answers; dropped")
            self._abort()

    # -- used by the relay -------------------------------------------------------------------

    def become_leg(self, leg: RelayLeg, high_water: int) -> None:
        """From now on this connection's plaintext is relayed; its output pauses the other leg
        past ``high_water`` unsent bytes."""
        self.leg = leg
        self._became_leg.set_result(None)  # the watch now counts the relay's idleness
        if self._transport is not None and not self._closing:
            self._transport.set_write_buffer_limits(high=high_water)

    def unsent(self) -> int:
        """Bytes written to this connection that the socket has not taken yet."""
        return 0 if self._transport is None else self._transport.get_write_buffer_size()

    def send_now(self, frame: bytes) -> None:
        """Write ``frame`` (after anything queued) at once."""
        if self._closing:
            return
        self._outbox.append(frame)
        self.flush()

    def write_stream(self, data: bytes) -> None:
        """Relayed bytes, sealed into this connection's session as they are."""
        if self._closing or self._transport is None or self._records is None:
            return
        self.flush()
        self._transport.write(self._records.seal(data))
        if self._transport.get_write_buffer_size() > max(self._server.max_write_buffer, 4 << 20):
            self.violation("does not read what is relayed to it; dropped")
            self._abort()

    def hold_input(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.pause_reading()

    def release_input(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    def violation(self, what: str) -> None:
        """Log a protocol violation (the first few of each connection), escaped."""
        self._violations += 1
        self._server.core.stats.protocol_violations += 1
        if self._violations <= _MAX_LOGGED_VIOLATIONS:
            log.warning("protocol violation from %s: %r", self.peer, what)
            if self._violations == _MAX_LOGGED_VIOLATIONS:
                log.warning("further violations from %s are not logged", self.peer)

    def close(self, last_frame: bytes | None = None, why: str = "closed") -> None:
        """Send ``last_frame`` (if any) after what is queued, then close; abort if it lingers."""
        if self._closing or self._transport is None:
            return
        self._server.gone(self._me(), why)
        if last_frame is not None:
            self._outbox.append(last_frame)
        self.flush()
        if self._closing:  # the flush found it over its output bound and aborted it
            return
        self._closing = True
        self._outbox.clear()
        self._transport.close()
        self._abort_handle = self._loop.call_later(CLOSE_GRACE, self._transport.abort)

    def evict(self, why: str) -> None:
        """The caps drop this connection, still shaking hands, for a newcomer's."""
        self._abort()

    def _abort(self) -> None:
        self._server.gone(self._me(), "dropped")
        self._closing = True
        self._outbox.clear()
        if self._transport is not None:
            self._transport.abort()
