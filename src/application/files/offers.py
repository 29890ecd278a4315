"""Which offers this user takes at all: the size limit (``FileLimits.max_size``) and a bound
on the piece list, both checked before the offer's message is stored."""

from __future__ import annotations

from typing import Final

from chinwag.domain.transfer import FileLimits, FileOffer

MAX_PIECES: Final = 2**21
"""Pieces of one offer (the hashes of a 1 TiB file in pieces of 512 KiB; 64 MiB of hashes):
an offer of more, tiny pieces would make the piece list itself a burden."""

FILE_TOO_LARGE: Final = "file_too_large"

_UNITS: Final = ("KiB", "MiB", "GiB", "TiB")


def size_text(size: int) -> str:
    """``size`` bytes for people: ``512 bytes``, ``4.0 GiB``."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def offer_refusal(offer: FileOffer, limits: FileLimits, me: str) -> tuple[str, str] | None:
    """Why ``me`` refuses ``offer`` for good (a code and a reason for the sender's people),
    or None if it may be stored."""
    if offer.size > limits.max_size:
        return FILE_TOO_LARGE, (
            f"{me} takes files up to {size_text(limits.max_size)}; "
            f"this one is {size_text(offer.size)}"
        )
    if offer.pieces > MAX_PIECES:
        return FILE_TOO_LARGE, (
            f"{me} takes files of at most {MAX_PIECES} pieces; this one has {offer.pieces} "
            "(its pieces are too small)"
        )
    return None
