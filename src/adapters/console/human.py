"""Sizes, rates and durations as people read them: ``1.2 MB``, ``12.3 MB/s``, ``0:05``.

Decimal units (1 kB = 1,000 bytes), as file managers and download bars show them, with three
significant figures at most, so a progress line keeps its width as the numbers change.
"""

from __future__ import annotations

import math
from typing import Final

_UNITS: Final = ("kB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """``size`` bytes: ``0 B``, ``999 B``, ``1.2 kB``, ``45.7 MB``, ``512 GB``."""
    if size < 1000:
        return f"{max(int(size), 0)} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1000
        # Rounded as it will be shown: 999,950 bytes is "1.0 MB", never "1000 kB".
        if round(value, 1) < 100:
            return f"{value:.1f} {unit}"
        if round(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def human_rate(rate: float) -> str:
    """Bytes per second: ``12.3 MB/s`` (``0 B/s`` when nothing moves)."""
    return f"{human_size(rate)}/s"


def human_duration(seconds: float) -> str:
    """``0:05``, ``12:34``, ``1:02:03``: minutes and seconds, with hours when there are any
    (rounded up, so a transfer is never "0:00 left" while bytes remain)."""
    total = max(math.ceil(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def time_left(remaining: int, rate: float) -> float | None:
    """Seconds until ``remaining`` bytes are done at ``rate``; None when nothing moves."""
    return remaining / rate if rate > 0 else None
