"""Which pieces of an incoming file are stored and checked: a bitmap, as the store keeps it
(piece ``i`` is bit ``i % 8`` of byte ``i // 8``)."""

from __future__ import annotations


class Bitmap:
    """The pieces held of a file of ``pieces`` pieces; bits past the last are ignored."""

    def __init__(self, pieces: int, stored: bytes = b"") -> None:
        self.pieces = pieces
        self._bits = bytearray((pieces + 7) // 8)
        self._bits[: len(stored)] = stored[: len(self._bits)]
        if pieces % 8 and self._bits:
            self._bits[-1] &= (1 << (pieces % 8)) - 1  # a stored tail of garbage counts not
        self.count = sum(bin(byte).count("1") for byte in self._bits)

    def __contains__(self, index: int) -> bool:
        return 0 <= index < self.pieces and bool(self._bits[index >> 3] >> (index & 7) & 1)

    def add(self, index: int) -> bool:
        """Mark piece ``index`` held; whether it was not before."""
        if index in self:
            return False
        self._bits[index >> 3] |= 1 << (index & 7)
        self.count += 1
        return True

    def discard(self, index: int) -> None:
        if index in self:
            self._bits[index >> 3] &= ~(1 << (index & 7)) & 0xFF
            self.count -= 1

    def next_missing(self, start: int) -> int | None:
        """The first piece from ``start`` on that is not held (whole bytes held are skipped)."""
        index = max(start, 0)
        while index < self.pieces:
            if not index & 7 and self._bits[index >> 3] == 0xFF:
                index += 8
                continue
            if index not in self:
                return index
            index += 1
        return None

    @property
    def complete(self) -> bool:
        return self.count == self.pieces

    def to_bytes(self) -> bytes:
        return bytes(self._bits)
