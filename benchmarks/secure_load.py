"""A cheap client end of chinwag's secure channel for load generators (benchmarks only).

An :class:`asyncio.Protocol` driving the product's sans-I/O pieces
(:class:`~chinwag.adapters.secure.channel.Handshake` and the ``RecordLayer`` it makes), so a load
generator pays for the handshake and one seal or open per read or write, and nothing else: no
streams, no tasks, no pydantic. Subclasses say what to do once the session is up
(:meth:`SecureClient.session_ready`) and with the frames that arrive
(:meth:`SecureClient.frames_received`), and send codec frames with :meth:`SecureClient.send`.

Two openings, as the product's protocols have them: the registry's (its clear ``welcome`` frame
first, then the handshake) and a peer's (the clear ``hello`` sent with handshake message 1).
"""

from __future__ import annotations

import asyncio
import os
from typing import cast

from chinwag.adapters.registry import protocol as registry_protocol
from chinwag.adapters.secure.channel import Handshake, RecordLayer, SecureError, Security
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode


class SecureClient(asyncio.Protocol):
    """The initiator's end of one secure connection (registry or peer protocol)."""

    def __init__(
        self,
        security: Security,
        *,
        max_frame: int = registry_protocol.MAX_SERVER_FRAME,
        peer: tuple[str, str] | None = None,
    ) -> None:
        """``peer=(me, them)`` speaks the peer protocol as ``me`` to ``them``; without it, the
        registry protocol."""
        self.security = security
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self._peer = peer
        self._clear: FrameDecoder | None = FrameDecoder(MAX_MESSAGE) if peer is None else None
        self._handshake: Handshake | None = None
        self._records: RecordLayer | None = None
        self._frames = FrameDecoder(max_frame)

    # -- for subclasses ----------------------------------------------------------------------

    def session_ready(self) -> None:
        """The handshake is done: the session may carry frames."""

    def frames_received(self, frames: list[bytes]) -> None:
        """Codec frames (plaintext payloads) arrived in the session."""

    def send(self, frames: bytes) -> None:
        """Seal ``frames`` (already codec-encoded) into records and write them."""
        assert self._records is not None and self.transport is not None
        self.transport.write(self._records.seal(frames))

    def failed(self, exc: BaseException) -> None:
        """The session broke (refused, bad record, closed by the other end)."""

    def close(self) -> None:
        """End the session on purpose (:meth:`failed` is not called)."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: BaseException) -> None:
        if not self.closing:
            self.closing = True
            self.failed(exc)
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        if self._peer is not None:
            me, them = self._peer
            hello = encode(peer_protocol.hello())
            self._handshake = Handshake(
                self.security,
                initiator=True,
                prologue=peer_protocol.PROLOGUE + hello,
                name=me,
                to=them,
            )
            self.transport.write(hello + self._handshake.start())

    def data_received(self, data: bytes) -> None:
        try:
            if self._records is not None:
                frames = self._frames.feed(self._records.open(data))
                if frames:
                    self.frames_received(frames)
                return
            if self._clear is not None:
                data = self._welcome(data)
                if self._clear is not None:
                    return
            self._shake(data)
        except (SecureError, FrameTooLarge, EmptyFrame) as exc:
            self._fail(exc)

    def _welcome(self, data: bytes) -> bytes:
        """Read the registry's clear welcome; start the handshake; return what came after it."""
        assert self._clear is not None and self.transport is not None
        first = self._clear.feed(data, max_frames=1)
        if not first:
            return b""
        if not first[0].startswith(b'{"type":"welcome"'):
            raise SecureError("refused", f"the registry said {first[0][:200]!r}")
        self._handshake = Handshake(
            self.security,
            initiator=True,
            prologue=registry_protocol.PROLOGUE + encode(first[0]),
        )
        self.transport.write(self._handshake.start())
        rest = self._clear.take_buffer()
        self._clear = None
        return rest

    def _shake(self, data: bytes) -> None:
        handshake = self._handshake
        assert handshake is not None and self.transport is not None
        reply = handshake.feed(data)
        if reply:
            self.transport.write(reply)
        if handshake.remote is None:
            return
        self._records = handshake.records()
        self._handshake = None
        self.session_ready()
        self.data_received(b"")  # records that came with the last handshake message

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.closing = True
            self.failed(ConnectionError(f"closed by the other end ({exc or 'EOF'})"))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) process ``pid`` has used so far; Linux only,
    0.0 elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
