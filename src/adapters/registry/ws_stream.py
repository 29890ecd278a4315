"""One WebSocket connection as the asyncio transport the registry protocols expect: each binary
message is one codec frame (its 4-byte length restored on the way in, taken off on the way
out), over websockets' sans-I/O protocol, with no task per connection. :class:`WsEnd` is the
socket side, shared by the server (:mod:`.ws_server`) and the client (:mod:`.ws_client`);
:class:`WsTransport` is what the protocol above sees."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Any, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import SEND_EOF, State
from websockets.protocol import Protocol as WsProtocol

from chinwag.adapters.secure.channel import CLOSE_GRACE
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.wire.codec import HEADER, HEADER_SIZE, FrameTooLarge, encode

__all__ = ["WsEnd", "WsTransport", "quiet_logger"]

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 5.0
"""Seconds a new connection has to finish its HTTP upgrade (as the registry's TCP handshake)."""

ProtocolFactory = Callable[[], asyncio.Protocol]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Quiet(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets logs every open and close at INFO: thousands of lines for nothing. Warnings
    and errors still pass."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.WARNING:
            super().log(level, msg, *args, **kwargs)


_QUIET = _Quiet(logging.getLogger("chinwag.adapters.registry.websocket"), {})


def quiet_logger() -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """The logger given to every WebSocket protocol (one for all: a connection stays small)."""
    return _QUIET


class WsEnd(asyncio.Protocol):
    """The socket side of one WebSocket connection (see the module doc). Subclasses say what an
    HTTP request or response means (:meth:`_handshake`) and call :meth:`_open` to hand the
    stream to the protocol above."""

    def __init__(self, ws: WsProtocol) -> None:
        self._ws = ws
        self._loop = asyncio.get_running_loop()
        self._sock: asyncio.Transport | None = None
        self.facade: WsTransport | None = None
        """The transport the protocol above has, once the upgrade is done."""
        self._inner: asyncio.Protocol | None = None
        self._parts: bytearray | None = None  # a fragmented binary message so far
        self._timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._eof_told = False
        self.lost = False
        self.heard = self._loop.time()
        """When bytes last came in (pings too)."""
        self.slot: object = None
        """What a server's caps count this connection as (the server's ``WsConnection``),
        for the protocol above: its transport's ``chinwag_slot``."""

    # -- asyncio.Protocol (the socket) -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sock = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.heard = self._loop.time()
        self._ws.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        self._ws.receive_eof()
        self._process()
        self._tell_eof()
        return False  # the socket closes

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_timer()
        ended_here = self.facade is not None and self.facade.closing
        if self.facade is not None:
            self.facade.closing = True
        if self._inner is not None:
            if exc is None and self._ws.close_rcvd is None and not ended_here:
                exc = ConnectionResetError("the WebSocket connection ended without a close frame")
            inner, self._inner = self._inner, None
            try:
                inner.connection_lost(exc)
            except Exception:
                log.exception("the protocol over a WebSocket failed on closing")

    def abort(self) -> None:
        """Drop the socket at once."""
        if self._sock is not None:
            self._sock.abort()

    # -- for subclasses --------------------------------------------------------------------

    def _handshake(self, event: Request | Response) -> None:
        raise NotImplementedError

    def _open(self, inner: asyncio.Protocol, peername: object) -> None:
        """The upgrade is done: ``inner`` gets the stream (the frames already parsed after the
        upgrade reach it in the same pass)."""
        assert self._sock is not None
        self._cancel_timer()
        self.facade = WsTransport(self, self._sock, self._ws, inner, peername)
        self._inner = inner
        inner.connection_made(self.facade)
        if self._write_paused:
            inner.pause_writing()

    def _arm(self, delay: float, then: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(delay, then)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the WebSocket protocol's events and output ----------------------------------------

    def _process(self) -> None:
        messages: list[bytes] = []
        for event in self._ws.events_received():
            if isinstance(event, Frame):
                if not self._frame(event, messages):
                    break
            else:
                self._deliver(messages)  # before the stream's owner changes
                messages = []
                self._handshake(event)
        self._deliver(messages)
        self.flush()

    def _frame(self, frame: Frame, messages: list[bytes]) -> bool:
        """Note one data or close frame; False once the connection failed."""
        opcode = frame.opcode
        if opcode is Opcode.BINARY:
            if frame.fin:
                messages.append(HEADER.pack(len(frame.data)) + frame.data)
            else:
                self._parts = bytearray(frame.data)
        elif opcode is Opcode.CONT:
            if self._parts is None:  # the rest of a text message: already failed
                return False
            self._parts += frame.data
            if frame.fin:
                messages.append(encode(bytes(self._parts)))
                self._parts = None
        elif opcode is Opcode.TEXT:
            self._ws.fail(CloseCode.UNSUPPORTED_DATA, "binary messages only")
            self._close_soon()
            return False
        elif opcode is Opcode.CLOSE:
            self._deliver(messages)
            messages.clear()
            self._close_soon()
            self._tell_eof()
        return True

    def _deliver(self, messages: list[bytes]) -> None:
        # Once the protocol above closed its transport, it reads no more (as over TCP).
        if messages and self._inner is not None and not (self.facade and self.facade.closing):
            self._inner.data_received(messages[0] if len(messages) == 1 else b"".join(messages))

    def _tell_eof(self) -> None:
        if self._inner is not None and not self._eof_told:
            self._eof_told = True
            self._inner.eof_received()

    def flush(self) -> None:
        """Write what the WebSocket protocol has to send; end the stream when it says so."""
        sock = self._sock
        if sock is None:
            return
        for data in self._ws.data_to_send():
            if data is not SEND_EOF and data:
                sock.write(data)
                continue
            # Half-close where TCP can, and read on until the peer closes too: closing with
            # its bytes unread would reset the connection, and it might miss our close frame.
            if sock.can_write_eof() and not sock.is_closing():
                sock.write_eof()
                sock.resume_reading()
                self._close_soon()
            else:
                sock.close()
        if self._ws.close_expected():
            self._close_soon()

    def _close_soon(self) -> None:
        """The connection is ending: a peer that does not finish closing gets ``CLOSE_GRACE``."""
        if self._sock is not None and not self.lost:
            self._sock.resume_reading()  # its close frame must be read
            if self._timer is None or self._timer.when() > self._loop.time() + CLOSE_GRACE:
                self._arm(CLOSE_GRACE, self._sock.abort)


class WsTransport(asyncio.Transport):
    """The stream over a WebSocket, as the protocol above sees it: codec frames in, codec
    frames out, the socket's flow control (see the module doc)."""

    def __init__(
        self,
        end: WsEnd,
        sock: asyncio.Transport,
        ws: WsProtocol,
        protocol: asyncio.Protocol,
        peername: object,
    ) -> None:
        super().__init__()
        self._end = end
        self._sock = sock
        self._ws = ws
        self._protocol = protocol
        self._peername = peername
        self._pending = bytearray()  # the start of a frame written in pieces
        self.closing = False

    # -- asyncio.WriteTransport ------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send each whole codec frame in ``data`` as one binary message (its header off).
        Once the WebSocket is closing (either side), data is dropped, as an asyncio transport
        drops what is written after ``close``."""
        if self.closing or not data:
            return
        if self._ws.state is not State.OPEN:
            self._pending.clear()
            return
        if self._pending:
            self._pending += data
            data = bytes(self._pending)
            self._pending.clear()
        with memoryview(data) as view:
            start, end = 0, len(view)
            while end - start >= HEADER_SIZE:
                (size,) = HEADER.unpack_from(view, start)
                if not 0 < size <= MAX_MESSAGE:
                    self.abort()
                    raise FrameTooLarge(size, MAX_MESSAGE)  # a bug above: not codec frames
                if end - start - HEADER_SIZE < size:
                    break
                body = start + HEADER_SIZE
                self._ws.send_binary(view[body : body + size])
                start = body + size
            if start < end:
                self._pending += view[start:]
        self._end.flush()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("a WebSocket stream is closed whole")

    def get_write_buffer_size(self) -> int:
        return self._sock.get_write_buffer_size() + len(self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._sock.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._sock.set_write_buffer_limits(high, low)

    # -- asyncio.ReadTransport --------------------------------------------------------------

    def is_reading(self) -> bool:
        return self._sock.is_reading()

    def pause_reading(self) -> None:
        if not self.closing:
            self._sock.pause_reading()

    def resume_reading(self) -> None:
        self._sock.resume_reading()

    # -- asyncio.BaseTransport --------------------------------------------------------------

    def is_closing(self) -> bool:
        return self.closing

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame after what is written; the socket ends when the peer answers,
        or after ``CLOSE_GRACE``."""
        if self.closing:
            return
        self.closing = True
        if self._ws.state is State.OPEN:
            self._ws.send_close(code, reason)
        self._end.flush()
        self._end._close_soon()

    def abort(self) -> None:
        self.closing = True
        self._sock.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peername
        if name == "chinwag_slot":
            return self._end.slot
        if name == "chinwag_transport":
            return "ws"
        return self._sock.get_extra_info(name, default)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol
