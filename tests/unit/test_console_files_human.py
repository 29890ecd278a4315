"""Sizes, rates and durations as the terminal client shows them."""

from __future__ import annotations

import pytest

from chinwag.adapters.console.human import human_duration, human_rate, human_size, time_left


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1234, "1.2 kB"),
        (99_949, "99.9 kB"),
        (99_950, "100 kB"),  # never "100.0 kB": three figures at most
        (999_499, "999 kB"),
        (999_500, "1.0 MB"),  # never "1000 kB"
        (1_200_000, "1.2 MB"),
        (12_345_678, "12.3 MB"),
        (4 * 2**30, "4.3 GB"),
        (2**40, "1.1 TB"),
        (10**18, "1000 PB"),  # the last unit takes what is left
    ],
)
def test_sizes_have_three_figures_at_most_in_decimal_units(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_rates_are_sizes_per_second() -> None:
    assert human_rate(12_300_000) == "12.3 MB/s"
    assert human_rate(0.0) == "0 B/s"
    assert human_rate(512.7) == "512 B/s"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0:00"),
        (0.2, "0:01"),  # rounded up: never "0:00 left" while bytes remain
        (4.2, "0:05"),
        (59, "0:59"),
        (65, "1:05"),
        (3599, "59:59"),
        (3723, "1:02:03"),
        (100 * 3600, "100:00:00"),
        (-3, "0:00"),
    ],
)
def test_durations_are_minutes_and_seconds_with_hours_when_there_are_any(
    seconds: float, shown: str
) -> None:
    assert human_duration(seconds) == shown


def test_time_left_is_unknown_when_nothing_moves() -> None:
    assert time_left(1000, 0.0) is None
    assert time_left(1000, 250.0) == 4.0
