"""What the terminal client says about files: an offer, each change of a transfer's state (a
line each), and its progress (a line at most every :data:`PROGRESS_EVERY` seconds).

Rules (each has a test in tests/unit/test_console_files_text.py):

- An incoming offer is one line saying who offers what, how large, and the commands that
  answer it, naming the transfer by the start of its id (:data:`SHORT_ID` hex digits):
  ``[12:00] bob offers report.pdf (1.2 MB, application/pdf) — /accept 3f2a1b4c or /decline
  3f2a1b4c``. It comes as a message and as a transfer: it is said once.
- Each state is said once per transfer and peer (a pause again when its reason changes):
  ``↓ report.pdf from bob: accepted``, ``… paused: bob is offline``, ``… done, saved to PATH``,
  ``↑ report.pdf to bob: declined``. The answer to a command that changed a transfer is the same
  line, so it is not said twice when the application told of the change already.
- While active, progress: ``↓ report.pdf 45% of 1.2 MB, 12.3 MB/s, 0:05 left`` (``↑`` for a
  file going out), never sooner than :data:`PROGRESS_EVERY` after the last line about it.
- Names of incoming files are the cleaned ones (the names they are saved under); every line
  goes through ``terminal_safe`` as all lines do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final
from uuid import UUID

from chinwag.adapters.console.human import human_duration, human_rate, human_size, time_left
from chinwag.adapters.console.json_files import shown_name
from chinwag.adapters.console.output import one_line
from chinwag.application.files.status import TransferStatus
from chinwag.domain.filename import safe_filename
from chinwag.domain.message import Message
from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState

PROGRESS_EVERY: Final = 2.0
"""Seconds between two progress lines of one transfer (the application reports more often)."""

SHORT_ID: Final = 8
"""Hex digits of a transfer's id shown (and enough to name it in a command, nearly always)."""

REMEMBERED: Final = 10_000
"""Transfers whose last state is remembered, to say each change once (the oldest forgotten)."""

_Key = tuple[UUID, str]


def short_id(transfer_id: UUID) -> str:
    return transfer_id.hex[:SHORT_ID]


def file_summary(name: str, offer: FileOffer) -> str:
    """``report.pdf (1.2 MB, application/pdf)``."""
    return f"{name} ({human_size(offer.size)}, {offer.mime})"


def how_far(transfer: Transfer) -> str:
    """``45% of 1.2 MB``."""
    size = transfer.offer.size
    percent = transfer.bytes * 100 // size if size else 100
    return f"{percent}% of {human_size(size)}"


def progress_words(transfer: Transfer, rate: float) -> str:
    """``45% of 1.2 MB, 12.3 MB/s, 0:05 left`` (the time left only when something moves)."""
    size = transfer.offer.size
    words = how_far(transfer)
    if transfer.state is not TransferState.ACTIVE:
        return words  # paused: no rate, no time left to tell
    words = f"{words}, {human_rate(rate)}"
    left = time_left(size - transfer.bytes, rate)
    return words if left is None else f"{words}, {human_duration(left)} left"


class TransferLines:
    """The lines about transfers, and what was said already; ``line`` prints one."""

    def __init__(
        self,
        line: Callable[[str], None],
        group_name: Callable[[UUID], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._line = line
        self._group_name = group_name
        self._clock = clock
        self._said: dict[_Key, tuple[TransferState, str | None]] = {}
        self._progress_at: dict[_Key, float] = {}

    def offered(self, message: Message) -> None:
        """An offer arrived as a message: its line, unless its transfer was told of already."""
        assert message.file is not None
        key = (message.id, message.sender)
        if key in self._said:
            return
        self._remember(key, (TransferState.OFFERED, None))
        when = message.sent_at.astimezone().strftime("%H:%M")
        self._line(
            _offer_line(when, message.sender, message.file, message.id, self._where(message))
        )

    def _where(self, message: Message) -> str:
        return "" if message.group_id is None else f" to {self._group_name(message.group_id)}"

    def changed(self, transfer: Transfer, rate: float) -> None:
        """A change the application reported: its state's line if it is news, else (while
        active) a progress line if the last line about it is old enough."""
        key = (transfer.id, transfer.peer)
        if self._state_news(transfer):
            return
        if transfer.state is not TransferState.ACTIVE:
            return
        now = self._clock()
        if now - self._progress_at.get(key, now) < PROGRESS_EVERY:
            self._progress_at.setdefault(key, now)
            return
        self._progress_at[key] = now
        self._line(f"{self._named(transfer)}: {progress_words(transfer, rate)}")

    def answered(self, transfer: Transfer) -> None:
        """The answer to a file command: the transfer's state line, if not said already."""
        self._state_news(transfer)

    def _state_news(self, transfer: Transfer) -> bool:
        """Say the transfer's state if it is news; whether it was."""
        key = (transfer.id, transfer.peer)
        now_said = (
            transfer.state,
            transfer.reason if transfer.state is TransferState.PAUSED else None,
        )
        before = self._said.get(key)
        if before == now_said:
            return False
        self._remember(key, now_said)
        if transfer.state is TransferState.ACTIVE:
            self._progress_at[key] = self._clock()  # progress from now on, not at once
        elif transfer.final:
            self._progress_at.pop(key, None)
        text = self._state_line(transfer, None if before is None else before[0])
        if text is not None:
            self._line(text)
        return True

    def _remember(self, key: _Key, said: tuple[TransferState, str | None]) -> None:
        self._said.pop(key, None)
        self._said[key] = said
        while len(self._said) > REMEMBERED:
            oldest = next(iter(self._said))
            del self._said[oldest]
            self._progress_at.pop(oldest, None)

    def _state_line(self, transfer: Transfer, before: TransferState | None) -> str | None:
        state = transfer.state
        if state is TransferState.OFFERED:
            return self._offer(transfer)
        return f"{self._named(transfer)}: {_what(transfer, before)}"

    def _offer(self, transfer: Transfer) -> str | None:
        tid = short_id(transfer.id)
        if transfer.direction is Direction.IN:
            when = transfer.created_at.astimezone().strftime("%H:%M")
            where = (
                "" if transfer.group_id is None else f" to {self._group_name(transfer.group_id)}"
            )
            return _offer_line(when, transfer.peer, transfer.offer, transfer.id, where)
        if transfer.group_id is not None and transfer.peer:
            return None  # a member's own record of a group offer: the offer was said
        summary = file_summary(shown_name(transfer), transfer.offer)
        return f"↑ offering {summary} to {self._peer(transfer)} — /cancel {tid}"

    def _peer(self, transfer: Transfer) -> str:
        """Who is on the other side: ``bob``, ``Friends``, ``carol in Friends``."""
        if transfer.group_id is None:
            return transfer.peer
        group = self._group_name(transfer.group_id)
        return f"{transfer.peer} in {group}" if transfer.peer else group

    def _named(self, transfer: Transfer) -> str:
        """``↓ report.pdf from bob [3f2a1b4c]`` or ``↑ report.pdf to carol in Friends [...]``:
        the id's start, so /cancel can name it after the offer line scrolled away."""
        arrow, rest = self._parts(transfer)
        return f"{arrow} {rest} [{short_id(transfer.id)}]"

    def _parts(self, transfer: Transfer) -> tuple[str, str]:
        """The arrow, and ``report.pdf from bob`` (or ``… to carol in Friends``)."""
        if transfer.direction is Direction.IN:
            return "↓", f"{shown_name(transfer)} from {self._peer(transfer)}"
        return "↑", f"{shown_name(transfer)} to {self._peer(transfer)}"

    def listing(self, statuses: list[TransferStatus]) -> list[str]:
        """``/transfers``: a line each, named by the start of its id."""
        if not statuses:
            return ["* no transfers"]
        lines = []
        for status in statuses:
            transfer = status.transfer
            arrow, rest = self._parts(transfer)
            lines.append(f"{arrow} {short_id(transfer.id)} {rest}: {_now(transfer, status.rate)}")
        return lines


def _offer_line(when: str, sender: str, offer: FileOffer, tid: UUID, where: str) -> str:
    summary = file_summary(safe_filename(offer.name), offer)
    short = short_id(tid)
    return f"[{when}] {sender} offers {summary}{where} — /accept {short} or /decline {short}"


def _what(transfer: Transfer, before: TransferState | None) -> str:
    """A state as its line says it, knowing the state said before (``None``: none was)."""
    reason = one_line(transfer.reason) if transfer.reason else None
    match transfer.state:
        case TransferState.ACTIVE if before is TransferState.OFFERED or (
            before is None and transfer.bytes == 0
        ):  # (nothing said before, nothing done yet: an offer accepted in an earlier run)
            return "accepted"
        case TransferState.ACTIVE:  # after a pause, or in a new run of this client
            return f"resumed at {how_far(transfer)}"
        case TransferState.PAUSED:
            return f"paused: {reason or 'waiting'}"
        case TransferState.DONE if transfer.direction is Direction.IN:
            return f"done, saved to {transfer.path}" if transfer.path else "done"
        case TransferState.DONE:
            return "done"
        case TransferState.DECLINED:
            return f"declined ({reason})" if reason else "declined"
        case TransferState.CANCELLED:
            return f"cancelled ({reason})" if reason else "cancelled"
        case TransferState.FAILED:
            return f"failed: {reason or 'unknown'}"
    return transfer.state.value  # pragma: no cover  (offered is said as an offer)


def _now(transfer: Transfer, rate: float) -> str:
    """Where a transfer is, for ``/transfers``."""
    tid = short_id(transfer.id)
    match transfer.state:
        case TransferState.OFFERED if transfer.direction is Direction.IN:
            size = human_size(transfer.offer.size)
            return f"offered ({size}, {transfer.offer.mime}) — /accept {tid} or /decline {tid}"
        case TransferState.OFFERED:
            return f"offered ({human_size(transfer.offer.size)})"
        case TransferState.ACTIVE:
            return f"active, {progress_words(transfer, rate)}"
        case TransferState.PAUSED:
            reason = one_line(transfer.reason) if transfer.reason else "waiting"
            return f"paused ({reason}), {progress_words(transfer, rate)}"
    return _what(transfer, transfer.state)
