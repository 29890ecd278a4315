"""What the user is told of transfers: every change of state at once, progress a few times a
second at most, with the rate over the last seconds.

Progress of a fast transfer comes with every piece (hundreds a second); a view redrawn that
often would do nothing else, so progress is thinned to :data:`PROGRESS_INTERVAL` per transfer.
A change of state is never thinned: the user must see a pause, a failure or the end at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.application.ports.events import ChatEvents
from chinwag.domain.filename import safe_filename
from chinwag.domain.transfer import Direction, RateMeter, Transfer, TransferState

PROGRESS_INTERVAL = 0.25
"""Seconds between two progress events of one transfer, at least (4 a second)."""

Key = tuple[UUID, str]
"""A record: the transfer's id and the peer."""


def key_of(transfer: Transfer) -> Key:
    return transfer.id, transfer.peer


def as_shown(transfer: Transfer) -> Transfer:
    """``transfer`` as the user is shown it: an incoming file's name is the sender's claim,
    so it is shown as it would be saved (:func:`safe_filename`: no path, no bidi overrides or
    invisible characters); the stored record keeps the claim."""
    if transfer.direction is Direction.OUT:
        return transfer
    name = safe_filename(transfer.offer.name)
    if name == transfer.offer.name:
        return transfer
    return transfer.model_copy(update={"offer": transfer.offer.model_copy(update={"name": name})})


@dataclass
class _Shown:
    meter: RateMeter = field(default_factory=RateMeter)
    told: float | None = None
    """Loop time of the last event, None before the first."""
    done: int = 0
    """Bytes done as last measured (may be ahead of the stored record between checkpoints)."""


class Progress:
    """Rates and thinned progress events, per record; only records that move are kept."""

    def __init__(self, events: ChatEvents, now: Callable[[], float]) -> None:
        self._events = events
        self._now = now
        self._shown: dict[Key, _Shown] = {}

    def changed(self, transfer: Transfer) -> None:
        """``transfer`` was offered or changed state: told at once. A transfer that no longer
        moves is forgotten (its rate is 0)."""
        key = key_of(transfer)
        if not transfer.moving:
            self._shown.pop(key, None)
            self._events.transfer_changed(as_shown(transfer), 0.0)
            return
        shown = self._shown.setdefault(key, _Shown())
        shown.done = max(shown.done, transfer.bytes)
        if transfer.state is not TransferState.ACTIVE:
            shown.meter.reset()  # a pause: the rate starts again from nothing
        shown.told = self._now()
        self._events.transfer_changed(as_shown(transfer), shown.meter.rate())

    def advanced(self, transfer: Transfer, done: int) -> None:
        """``done`` bytes of ``transfer`` are done now: measured, and told if the last event of
        this transfer is at least :data:`PROGRESS_INTERVAL` old."""
        now = self._now()
        shown = self._shown.setdefault(key_of(transfer), _Shown())
        shown.done = done
        shown.meter.add(now, done)
        if shown.told is not None and now - shown.told < PROGRESS_INTERVAL:
            return
        shown.told = now
        self._events.transfer_changed(
            as_shown(transfer.model_copy(update={"bytes": done})), shown.meter.rate()
        )

    def live(self, transfer: Transfer) -> tuple[Transfer, float]:
        """``transfer`` as shown, with the bytes measured since its last checkpoint, and its
        rate."""
        shown = self._shown.get(key_of(transfer))
        if shown is None or not transfer.moving:
            return as_shown(transfer), 0.0
        if shown.done > transfer.bytes:
            transfer = transfer.model_copy(update={"bytes": min(shown.done, transfer.offer.size)})
        return as_shown(transfer), shown.meter.rate()

    def forget(self, key: Key) -> None:
        self._shown.pop(key, None)
