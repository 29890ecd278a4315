"""The timings and bounds of transfers (docs/design-files.md); tests make them shorter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileSettings:
    window: int = 8
    """Pieces asked of one sender at once, per transfer."""
    stall: float = 5.0
    """Seconds without data (in) or without an ask (out) before a transfer says it waits."""
    max_retry_delay: float = 4.0
    """A paused pull tries again after 1 s, 2 s, 4 s... at most this."""
    disk_retry: float = 1.0
    """Seconds between looks for room on a full disk."""
    checkpoint_seconds: float = 0.5
    checkpoint_pieces: int = 64
    """The pieces bitmap is stored at least this often (whichever comes first)."""
    max_damaged: int = 3
    """A piece damaged this many times in a row fails the transfer."""
