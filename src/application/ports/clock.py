from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the time: always timezone-aware UTC."""

    def now(self) -> datetime: ...
