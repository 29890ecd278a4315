"""A pure, sans-I/O frame codec: 4-byte big-endian length, then that many bytes of payload.

The decoder checks every declared length against its limit *before* buffering the payload, so a
peer announcing a 4 GiB frame costs four bytes of memory, not four gigabytes.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size


class FrameTooLarge(ValueError):
    """A frame declared a length above the limit; the connection cannot be resynchronised."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes is over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class EmptyFrame(ValueError):
    """A frame of length zero: never valid in chinwag's protocols."""


def encode(payload: bytes) -> bytes:
    """One frame carrying ``payload``."""
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Turns a byte stream into frames. Feed it whatever arrived; it returns the complete frames."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buffer)

    def take_buffer(self) -> bytes:
        """Hand over (and forget) the bytes held: what came after the frames taken so far, for
        the next layer once this one's job is done (a preamble before a handshake, say)."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def feed(self, data: bytes, max_frames: int | None = None) -> list[bytes]:
        """Add ``data``; return every frame it completes (at most ``max_frames``), in order.

        Frames past ``max_frames`` stay buffered, unchecked, for a later call (after a handshake,
        say, that changes the limit).

        Raises :class:`FrameTooLarge` or :class:`EmptyFrame` as soon as a bad header is seen;
        frames completed before it are lost with the connection, which the caller must close.
        """
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start = 0
        end = len(buffer)
        # Frames are copied out through a view: slicing the bytearray first would copy each
        # byte twice (a file piece is 512 KiB, and every byte of a file passes here twice).
        with memoryview(buffer) as view:
            while end - start >= HEADER_SIZE and (max_frames is None or len(frames) < max_frames):
                (size,) = HEADER.unpack_from(buffer, start)
                if size > self.max_frame:
                    raise FrameTooLarge(size, self.max_frame)
                if size == 0:
                    raise EmptyFrame("frame of length zero")
                if end - start - HEADER_SIZE < size:
                    break
                body_start = start + HEADER_SIZE
                frames.append(bytes(view[body_start : body_start + size]))
                start = body_start + size
        if start:
            del buffer[:start]
        return frames
