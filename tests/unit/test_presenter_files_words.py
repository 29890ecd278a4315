"""How file rows read: sizes, speeds, times left, types, and an offer to a group summed up."""

from __future__ import annotations

from uuid import UUID

import pytest

from chinwag.adapters.gui.file_words import file_row, human_size, kind_of, time_left
from chinwag.adapters.gui.view import FileAction
from chinwag.application.files.status import TransferStatus
from chinwag.domain.transfer import Direction, TransferState
from tests.unit.test_presenter_files import offer, transfer


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (12_345_678, "12.3 MB"),
        (999_999, "1.0 MB"),
        (4 * 2**30, "4.3 GB"),
        (2**40, "1.1 TB"),
    ],
)
def test_sizes_are_said_in_powers_of_1000(size: int, words: str) -> None:
    assert human_size(size) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.2, "1 s left"), (59, "59 s left"), (61, "2 min left"), (3900, "1 h 5 min left")],
)
def test_time_left_is_rounded_up_to_a_unit_a_person_reads(seconds: float, words: str) -> None:
    assert time_left(seconds) == words


@pytest.mark.parametrize(
    ("mime", "name", "words"),
    [
        ("image/png", "a.png", "PNG image"),
        ("image/svg+xml", "a.svg", "SVG image"),
        ("video/x-matroska", "a.mkv", "MATROSKA video"),
        ("application/pdf", "a.pdf", "PDF document"),
        ("application/octet-stream", "notes.md", "MD file"),
        ("application/octet-stream", "noext", "File"),
        ("image/<script>", "x.gif", "GIF file"),  # a sender's odd claim is not shown
    ],
)
def test_a_files_type_in_words(mime: str, name: str, words: str) -> None:
    assert kind_of(mime, name) == words


def test_an_offer_to_a_group_sums_up_its_members() -> None:
    group = UUID(int=42)
    own = transfer(9, direction=Direction.OUT, peer="", group=group)
    assert file_row({"": TransferStatus(own, 0.0)}) is not None
    row = file_row({"": TransferStatus(own, 0.0)})
    assert row is not None and row.status == "Offered to the group"
    records = {
        "": TransferStatus(own, 0.0),
        "bob": TransferStatus(
            transfer(9, TransferState.ACTIVE, direction=Direction.OUT, done=12_300_000), 1e6
        ),
        "carol": TransferStatus(
            transfer(9, TransferState.DONE, direction=Direction.OUT, peer="carol"), 0.0
        ),
    }
    row = file_row(records)
    assert row is not None
    assert row.status == "1 downloading · 50% · 1.0 MB/s · 13 s left · 1 has it"
    assert row.fraction == 0.5 and row.actions == (FileAction.CANCEL,)
    cancelled = own.moved(TransferState.CANCELLED, own.updated_at)
    row = file_row({**records, "": TransferStatus(cancelled, 0.0)})
    assert row is not None and row.status == "Cancelled" and row.actions == ()


def test_an_empty_file_is_complete_at_once() -> None:
    empty = offer("empty.txt", size=0, mime="text/plain")
    row = file_row({"bob": TransferStatus(transfer(5, TransferState.ACTIVE, file=empty), 0.0)})
    assert row is not None and row.fraction == 1.0 and row.status == "100%"
    assert row.size == "0 B" and row.kind == "Text file"
