"""The whole file's hash taken as pieces arrive, in any order."""

from __future__ import annotations

import asyncio
import hashlib

from chinwag.application.files.running import MAX_WAITING, RunningHash

PIECES = [bytes([n]) * 1000 for n in range(40)]
WHOLE = hashlib.sha256(b"".join(PIECES)).digest()


def fed(order: list[int], *, usable: bool = True, pieces: int = len(PIECES)) -> bytes | None:
    async def run() -> bytes | None:
        running = RunningHash(pieces, usable=usable)
        for index in order:
            await running.add(index, PIECES[index])
        return running.digest()

    return asyncio.run(run())


def test_pieces_in_order_give_the_files_hash() -> None:
    assert fed(list(range(40))) == WHOLE


def test_early_pieces_wait_for_those_before_them_and_repeats_change_nothing() -> None:
    order = [1, 0, 3, 2, 2, 0, *range(4, 40)]
    assert fed(order) == WHOLE


def test_a_missing_piece_means_no_digest() -> None:
    assert fed([n for n in range(40) if n != 7]) is None


def test_too_many_early_pieces_give_up_for_a_read_back() -> None:
    order = [*range(1, MAX_WAITING + 2), 0, *range(MAX_WAITING + 2, 40)]
    assert fed(order) is None


def test_a_resumed_pull_does_not_use_it() -> None:
    assert fed(list(range(40)), usable=False) is None


def test_an_empty_file_has_the_hash_of_nothing() -> None:
    assert fed([], pieces=0) == hashlib.sha256(b"").digest()
