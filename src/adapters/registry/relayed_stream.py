"""A relayed byte stream: one end of a relay session through the registry, as an asyncio stream
pair that the peer transport uses exactly as it uses a TCP connection.

Under it is a connection of its own to the registry (a "leg"), secured with the registry's Noise
session like any other. Once the registry says ``relay_joined``, that session's plaintext is the
relayed stream: whatever we write is sealed for the registry, which opens it and seals it again
for the other end's leg. Above it the peer protocol runs unchanged, with its own end-to-end Noise
session, so the registry carries only ciphertext it cannot read, forge, reorder or drop unseen.

:class:`RelayedTransport` is an :class:`asyncio.Transport`, so ``asyncio.StreamReader`` /
``StreamWriter`` (and their flow control) work over it: the reader pauses the leg when its buffer
is full; a writer's ``drain()`` waits while the leg's socket holds more than
:data:`HIGH_WATER` bytes unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from chinwag.adapters.secure.channel import CLOSE_GRACE, READ_CHUNK, RecordLayer, SecureError

log = logging.getLogger(__name__)

HIGH_WATER = 256 * 1024
"""Unsent bytes on the leg past which writers are asked to wait (``drain``)."""

RELAYED_PEERNAME = ("relay", 0)
"""What a relayed stream says it is connected to: no address of the other end is known."""


class RelayedTransport(asyncio.Transport):
    """A byte stream carried as the plaintext of a registry connection (see the module doc)."""

    def __init__(
        self,
        leg_reader: asyncio.StreamReader,
        leg_writer: asyncio.StreamWriter,
        records: RecordLayer,
        early: bytes,
        protocol: asyncio.Protocol,
        *,
        sid: str,
    ) -> None:
        super().__init__()
        self._leg_reader = leg_reader
        self._leg_writer = leg_writer
        self._records = records
        self._early = early
        self._protocol = protocol
        self._sid = sid
        self._reading = asyncio.Event()
        self._reading.set()
        self._closing = False
        self._lost = False
        self._writing_paused = False
        self._drainer: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Tell the protocol it is connected, then carry bytes until the leg ends."""
        self._protocol.connection_made(self)
        self._pump = asyncio.get_running_loop().create_task(
            self._carry(), name=f"relayed stream {self._sid[:6]}"
        )

    async def _carry(self) -> None:
        error: Exception | None = None
        try:
            if self._early:
                self._protocol.data_received(self._early)
                self._early = b""
            while not self._closing:
                await self._reading.wait()
                data = await self._leg_reader.read(READ_CHUNK)
                if not data:
                    break
                plain = self._records.open(data)
                if plain and not self._closing:
                    self._protocol.data_received(plain)
            if not self._closing:
                self._protocol.eof_received()
        except SecureError as exc:  # the registry's session broke: the stream is over
            error = ConnectionError(f"the relay's session broke: {exc}")
        except OSError as exc:
            error = exc
        except asyncio.CancelledError:
            pass
        finally:
            self._leg_writer.transport.abort() if error else self._leg_writer.close()
            self._lose(error)

    def _lose(self, error: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        if self._drainer is not None:
            self._drainer.cancel()
        try:
            self._protocol.connection_lost(error)
        except Exception:
            log.exception("relayed stream %s: the protocol failed on closing", self._sid[:6])

    # -- asyncio.WriteTransport ------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        self._leg_writer.write(self._records.seal(bytes(data)))
        if not self._writing_paused and self.get_write_buffer_size() > HIGH_WATER:
            self._writing_paused = True
            self._protocol.pause_writing()
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        with contextlib.suppress(OSError):
            await self._leg_writer.drain()
        self._writing_paused = False
        self._drainer = None
        if not self._closing:
            self._protocol.resume_writing()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("a relayed stream is closed whole")

    def get_write_buffer_size(self) -> int:
        return self._leg_writer.transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, HIGH_WATER)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    # -- asyncio.ReadTransport --------------------------------------------------------------

    def is_reading(self) -> bool:
        return self._reading.is_set()

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    # -- asyncio.BaseTransport --------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Close the leg once what is written has left; the other end sees the stream end."""
        if self._closing:
            return
        self._closing = True
        self._reading.set()
        self._leg_writer.close()
        loop = asyncio.get_running_loop()
        # A registry that takes no more of what is written gets no longer than any peer would.
        loop.call_later(CLOSE_GRACE, self._leg_writer.transport.abort)
        if self._pump is not None:
            self._pump.cancel()
            # Cancelled before its first step, the pump never runs its ``finally``: the
            # protocol learns the stream ended all the same.
            self._pump.add_done_callback(lambda _: self._lose(None))
        else:
            loop.call_soon(self._lose, None)

    def abort(self) -> None:
        self._leg_writer.transport.abort()
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return RELAYED_PEERNAME
        if name == "relay_session":
            return self._sid
        return default

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol


def relayed_streams(
    leg_reader: asyncio.StreamReader,
    leg_writer: asyncio.StreamWriter,
    records: RecordLayer,
    early: bytes,
    *,
    sid: str,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream pair over a joined relay leg; ``early`` is relayed plaintext already read."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_CHUNK, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport = RelayedTransport(leg_reader, leg_writer, records, early, protocol, sid=sid)
    transport.start()
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
