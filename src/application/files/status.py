"""What clients show of a transfer: its record and how fast it moves now."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.domain.transfer import Transfer


@dataclass(frozen=True)
class TransferStatus:
    transfer: Transfer
    rate: float
    """Bytes per second over the last seconds; 0 when nothing moves."""
