"""The relay's pure pieces: the token bucket that meters a client's relayed bytes, and the
relay's settings."""

from __future__ import annotations

import pytest

from chinwag.adapters.registry.relay_session import RelaySettings
from chinwag.application.bucket import TokenBucket


def test_a_bucket_starts_full_and_lets_its_burst_through_at_once() -> None:
    bucket = TokenBucket(rate=100, burst=50, now=0.0)
    assert bucket.take(80, now=0.0) == 50
    assert bucket.take(1, now=0.0) == 0
    assert bucket.available(now=0.0) == 0


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=100, burst=50, now=0.0)
    bucket.take(50, now=0.0)
    assert bucket.available(now=0.1) == 10
    assert bucket.take(30, now=0.2) == 20
    assert bucket.available(now=100.0) == 50  # never more than the burst


def test_over_any_window_a_bucket_gives_at_most_burst_plus_rate_times_time() -> None:
    rate, burst = 1000.0, 64.0
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    given = 0
    now = 0.0
    for step in range(1, 2001):
        now = step * 0.0007
        given += bucket.take(37, now)
        assert given <= burst + rate * now
    assert given >= rate * now - 37  # and it does give that much, to one who keeps asking


def test_a_bucket_says_how_long_until_it_has_enough() -> None:
    bucket = TokenBucket(rate=100, burst=50, now=0.0)
    assert bucket.wait(10, now=0.0) == 0.0
    bucket.take(50, now=0.0)
    assert bucket.wait(10, now=0.0) == pytest.approx(0.1)
    assert bucket.wait(1000, now=0.0) == pytest.approx(0.5)  # at most a burst's worth
    assert bucket.wait(10, now=0.1) == 0.0


def test_a_clock_going_back_takes_nothing_and_gives_nothing() -> None:
    bucket = TokenBucket(rate=100, burst=50, now=10.0)
    bucket.take(50, now=10.0)
    assert bucket.take(5, now=9.0) == 0
    assert bucket.available(now=10.25) == 25


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (10, 0), (float("inf"), 10)])
def test_a_bucket_needs_a_positive_finite_rate_and_burst(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate=rate, burst=burst, now=0.0)


def test_the_default_burst_is_a_quarter_second_and_at_least_64_kib() -> None:
    assert RelaySettings().burst_bytes == 2 * 1024 * 1024
    assert RelaySettings(rate=1024).burst_bytes == 64 * 1024
    assert RelaySettings(rate=1024, burst=10).burst_bytes == 10


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"rate": 0}, "relay rate"),
        ({"burst": 0}, "relay burst"),
        ({"sessions_per_client": 0}, "sessions per client"),
        ({"sessions_per_target": 0}, "sessions per target"),
        ({"max_sessions": 0}, "max sessions"),
        ({"join_timeout": 0}, "timeouts"),
        ({"idle_timeout": -1}, "timeouts"),
        ({"high_water": 0}, "buffer"),
    ],
)
def test_relay_settings_refuse_what_cannot_work(options: dict[str, float], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RelaySettings(**options)  # type: ignore[arg-type]
