"""How a file row reads: sizes, speeds and times left in words, a file's type, and the row of
a transfer in each state. Pure functions of the records, so the presenter's part
(``presenter_files``) only keeps the records and says when a row changed. No Tk.

An outgoing offer to a group has a record of its own (``peer`` empty: the offer to all) and one
per member that asked for the file; its row sums them up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePath
from uuid import UUID

from chinwag.adapters.gui.view import FileAction, FileRow
from chinwag.application.files.status import TransferStatus
from chinwag.domain.filename import safe_filename
from chinwag.domain.message import Message
from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState

UNITS = ("B", "kB", "MB", "GB", "TB")

Records = Mapping[str, TransferStatus]
"""The records of one transfer (one offer), by peer ("" for a group offer's own)."""

_MOVING = (FileAction.CANCEL,)
_DONE = (FileAction.OPEN, FileAction.SHOW)
_OFFERED_IN = (FileAction.ACCEPT, FileAction.SAVE_AS, FileAction.DECLINE)
_SUBTYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,30}")
_NAMED_KINDS = {
    "application/pdf": "PDF document",
    "application/zip": "ZIP archive",
    "application/gzip": "GZIP archive",
    "application/x-tar": "TAR archive",
    "application/json": "JSON file",
    "text/plain": "Text file",
    "text/html": "HTML page",
    "text/csv": "CSV table",
}
_MAJOR_KINDS = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "text": "text",
    "font": "font",
}


def human_size(size: float) -> str:
    """``1234567`` → ``1.2 MB`` (powers of 1000, as file managers say sizes)."""
    if size < 1000:
        return f"{int(size)} B"
    exponent = min(int(math.log(size, 1000)), len(UNITS) - 1)
    value = size / 1000**exponent
    if value >= 999.95 and exponent < len(UNITS) - 1:  # 999,999 B is 1.0 MB, not 1000.0 kB
        exponent, value = exponent + 1, value / 1000
    return f"{value:.1f} {UNITS[exponent]}"


def human_rate(rate: float) -> str:
    return f"{human_size(rate)}/s"


def time_left(seconds: float) -> str:
    """``5 s left``, ``3 min left``, ``1 h 5 min left``."""
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{seconds} s left"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min left" if minutes else f"{hours} h left"


def kind_of(mime: str, name: str) -> str:
    """The file's type in words, from its MIME type (the sender's claim: only plain ones are
    shown as they are), else from the name's extension."""
    mime = mime.strip().lower()
    if mime in _NAMED_KINDS:
        return _NAMED_KINDS[mime]
    major, _, sub = mime.partition("/")
    sub = sub.split(";")[0].split("+")[0].removeprefix("x-")
    if major in _MAJOR_KINDS and _SUBTYPE.fullmatch(sub) and sub != "plain":
        return f"{sub.upper()} {_MAJOR_KINDS[major]}"
    suffix = PurePath(name).suffix[1:]
    if suffix and len(suffix) <= 8 and suffix.isalnum():
        return f"{suffix.upper()} file"
    return "File"


def shown_name(offer: FileOffer, transfer: Transfer | None = None) -> str:
    """The name a row shows: a saved file's own (it may be numbered: ``photo (2).jpg``), else
    the offered name made safe, as it would be saved."""
    if transfer is not None and transfer.direction is Direction.IN and transfer.path:
        return PurePath(transfer.path).name or safe_filename(offer.name)
    return safe_filename(offer.name)


def percent(done: int, size: int) -> int:
    return 100 if size <= 0 else min(100, done * 100 // size)


def progress(done: int, size: int, rate: float) -> str:
    """``45% · 12.3 MB/s · 5 s left`` (just the share while the speed is not known yet)."""
    words = f"{percent(done, size)}%"
    if rate > 0:
        words += f" · {human_rate(rate)} · {time_left(max(size - done, 0) / rate)}"
    return words


def offered_row(message: Message, outgoing: bool) -> FileRow | None:
    """The row of a file message whose transfer is not known (yet): as offered."""
    offer = message.file
    if offer is None:
        return None
    base = _base(message.id, offer, None)
    if outgoing:
        return replace(base, status="Offered", actions=_MOVING)
    return replace(base, status="Accept to download it", actions=_OFFERED_IN)


def file_row(records: Records) -> FileRow | None:
    """The row of one transfer, from its records (``None`` if there are none)."""
    if not records:
        return None
    if "" in records or len(records) > 1:
        return _group_row(records)
    status = next(iter(records.values()))
    transfer = status.transfer
    if transfer.direction is Direction.IN:
        return _incoming(transfer, status.rate)
    return _outgoing(transfer, status.rate)


def _base(transfer_id: UUID, offer: FileOffer, transfer: Transfer | None) -> FileRow:
    """The row's name, size and type; its status is filled in by ``replace``."""
    return FileRow(
        id=transfer_id,
        name=shown_name(offer, transfer),
        size=human_size(offer.size),
        kind=kind_of(offer.mime, offer.name),
        status="",
    )


def _incoming(t: Transfer, rate: float) -> FileRow:
    base = _base(t.id, t.offer, t)
    state = t.state
    if state is TransferState.OFFERED:
        return replace(base, status=f"{t.peer} sends you this file", actions=_OFFERED_IN)
    if state is TransferState.DONE:
        where = f"Saved in {PurePath(t.path).parent}" if t.path else "Downloaded"
        return replace(base, status=where, actions=_DONE)
    return _moving_or_over(t, rate, base, declined="You declined it")


def _outgoing(t: Transfer, rate: float) -> FileRow:
    base = _base(t.id, t.offer, t)
    state = t.state
    if state is TransferState.OFFERED:
        return replace(base, status=f"Waiting for {t.peer} to accept", actions=_MOVING)
    if state is TransferState.DONE:
        return replace(base, status=f"{t.peer} has it", actions=_DONE if t.path else ())
    return _moving_or_over(t, rate, base, declined=f"{t.peer} declined it")


def _moving_or_over(t: Transfer, rate: float, base: FileRow, declined: str) -> FileRow:
    size = t.offer.size
    fraction = 1.0 if size <= 0 else t.bytes / size
    if t.state is TransferState.ACTIVE:
        words = progress(t.bytes, size, rate)
        return replace(base, status=words, fraction=fraction, actions=_MOVING)
    if t.state is TransferState.PAUSED:
        why = f"paused: {t.reason}" if t.reason else "paused"
        words = f"{percent(t.bytes, size)}% · {why}"
        return replace(base, status=words, fraction=fraction, actions=_MOVING)
    if t.state is TransferState.DECLINED:
        return replace(base, status=declined, problem=True)
    if t.state is TransferState.CANCELLED:
        words = f"Cancelled: {t.reason}" if t.reason else "Cancelled"
        return replace(base, status=words, problem=True)
    words = f"Failed: {t.reason}" if t.reason else "Failed"
    return replace(base, status=words, problem=True)


def _group_row(records: Records) -> FileRow:
    """An offer to a group: the offer's own record says whether it still stands; the members'
    say how many download it now and how many have it."""
    own = records.get("")
    members = [s for peer, s in records.items() if peer]
    first = (own or members[0]).transfer
    base = _base(first.id, first.offer, None)
    if own is not None and own.transfer.final:
        t = own.transfer
        if t.state is TransferState.CANCELLED:
            return replace(base, status="Cancelled", problem=True)
        return _moving_or_over(t, 0.0, base, declined="Declined")
    moving = [s for s in members if s.transfer.moving]
    have = sum(1 for s in members if s.transfer.state is TransferState.DONE)
    words = ["Offered to the group"]
    fraction: float | None = None
    if moving:
        done = sum(s.transfer.bytes for s in moving)
        size = sum(s.transfer.offer.size for s in moving)
        rate = sum(s.rate for s in moving)
        fraction = 1.0 if size <= 0 else done / size
        words = [f"{len(moving)} downloading", progress(done, size, rate)]
    if have:
        words.append(f"{have} {'has' if have == 1 else 'have'} it")
    actions = _MOVING if own is None or not own.transfer.final else ()
    return replace(base, status=" · ".join(words), fraction=fraction, actions=actions)
