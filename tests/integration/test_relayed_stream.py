"""The relayed byte stream over a leg: real sockets, a stand-in record layer (the registry's
Noise session is tested in test_secure_channel)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from chinwag.adapters.registry.relayed_stream import RELAYED_PEERNAME, relayed_streams
from chinwag.adapters.secure.channel import SecureError
from chinwag.adapters.wire.codec import FrameDecoder, encode

pytestmark = pytest.mark.timeout(20)


class FramedRecords:
    """Records as plain codec frames; ``poison`` makes the next open fail, as a forged record
    fails to decrypt."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder(1 << 20)
        self.poison = False

    def seal(self, data: bytes) -> bytes:
        return encode(data)

    def open(self, data: bytes) -> bytes:
        if self.poison:
            raise SecureError("decrypt_failed", "a record failed to decrypt")
        return b"".join(self._decoder.feed(data))


async def legs() -> tuple[
    tuple[asyncio.StreamReader, asyncio.StreamWriter],
    tuple[asyncio.StreamReader, asyncio.StreamWriter],
]:
    a, b = socket.socketpair()
    return await asyncio.open_connection(sock=a), await asyncio.open_connection(sock=b)


def test_bytes_flow_both_ways_in_order_with_flow_control() -> None:
    async def scenario() -> None:
        (ar, aw), (br, bw) = await legs()
        left_reader, left_writer = relayed_streams(ar, aw, FramedRecords(), b"", sid="s" * 16)
        right_reader, right_writer = relayed_streams(br, bw, FramedRecords(), b"", sid="s" * 16)
        payload = os.urandom(3 * 1024 * 1024)

        async def send() -> None:
            for start in range(0, len(payload), 100_000):
                left_writer.write(payload[start : start + 100_000])
                await left_writer.drain()  # waits while the reader is behind

        _, got = await asyncio.gather(send(), right_reader.readexactly(len(payload)))
        assert got == payload
        right_writer.write(b"pong")
        assert await left_reader.readexactly(4) == b"pong"
        assert left_writer.get_extra_info("peername") == RELAYED_PEERNAME
        left_writer.close()
        await left_writer.wait_closed()
        assert await right_reader.read() == b""  # the other end sees the stream end
        right_writer.close()
        await right_writer.wait_closed()

    asyncio.run(scenario())


def test_early_bytes_come_first() -> None:
    async def scenario() -> None:
        (ar, aw), (br, bw) = await legs()
        _, left = relayed_streams(ar, aw, FramedRecords(), b"", sid="s" * 16)
        left.write(b" world")
        reader, writer = relayed_streams(br, bw, FramedRecords(), b"hello", sid="s" * 16)
        assert await reader.readexactly(11) == b"hello world"
        for end in (left, writer):
            end.close()
            await end.wait_closed()

    asyncio.run(scenario())


def test_a_record_that_does_not_open_ends_the_stream() -> None:
    async def scenario() -> None:
        (ar, aw), (br, bw) = await legs()
        _, left = relayed_streams(ar, aw, FramedRecords(), b"", sid="s" * 16)
        records = FramedRecords()
        reader, writer = relayed_streams(br, bw, records, b"", sid="s" * 16)
        records.poison = True
        left.write(b"forged")
        with pytest.raises(ConnectionError, match="session broke"):
            await reader.read(10)
        with pytest.raises(ConnectionError):
            await writer.wait_closed()
        assert writer.is_closing()

    asyncio.run(scenario())


def test_aborting_ends_the_other_side() -> None:
    async def scenario() -> None:
        (ar, aw), (br, bw) = await legs()
        _, left = relayed_streams(ar, aw, FramedRecords(), b"", sid="s" * 16)
        reader, _ = relayed_streams(br, bw, FramedRecords(), b"", sid="s" * 16)
        left.transport.abort()
        assert await reader.read() == b""

    asyncio.run(scenario())


def test_closing_at_once_still_tells_the_protocol() -> None:
    """Closed before its pump ever ran (a relayed session refused ``busy`` at once): the
    protocol still hears the stream end, so ``wait_closed`` returns and the reader sees EOF."""

    async def scenario() -> None:
        a, b = socket.socketpair()
        leg_reader, leg_writer = await asyncio.open_connection(sock=a)
        _, other_writer = await asyncio.open_connection(sock=b)
        reader, writer = relayed_streams(leg_reader, leg_writer, FramedRecords(), b"", sid="s" * 16)
        writer.close()  # no await in between: the pump task has not started
        try:
            async with asyncio.timeout(0.5):
                await writer.wait_closed()
                assert await reader.read() == b""
        except TimeoutError:
            raise AssertionError(
                "the protocol was never told the relayed stream closed (wait_closed hangs)"
            ) from None
        finally:
            writer.transport.abort()
            leg_writer.transport.abort()
            other_writer.transport.abort()

    asyncio.run(scenario())
