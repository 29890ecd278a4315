"""Inbound quotas: what one peer, and all message requests together, may make us store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chinwag.application.quota import MESSAGE_COST, Allowance, InboundQuota, QuotaSettings

NOON = datetime(2026, 11, 30, 12, tzinfo=UTC)
SMALL = QuotaSettings(
    contact=Allowance(rate=1000, burst=10_000, daily=50_000),
    stranger=Allowance(rate=100, burst=2 * (MESSAGE_COST + 100), daily=20_000),
    strangers_daily=4 * (MESSAGE_COST + 100),
)


def test_the_defaults_let_tens_of_thousands_of_short_messages_through_at_first_contact() -> None:
    quota = InboundQuota()
    sizes = [100] * 50_000
    assert quota.admit("script", sizes, stranger=True, now=NOON) == len(sizes)


def test_every_message_costs_its_body_and_a_fixed_cost_so_floods_of_tiny_ones_are_charged() -> None:
    quota = InboundQuota(SMALL)
    # the burst holds two messages of 100 bytes, however small the bodies are made
    assert quota.admit("mallory", [100, 100, 100], stranger=True, now=NOON) == 2
    assert quota.admit("eve", [1] * 10, stranger=True, now=NOON) == 2


def test_the_rate_refills_the_bucket_over_time() -> None:
    quota = InboundQuota(SMALL)
    assert quota.admit("bob", [5_000, 5_000, 5_000], stranger=False, now=NOON) == 1
    assert quota.admit("bob", [5_000], stranger=False, now=NOON) == 0
    later = NOON + timedelta(seconds=(5_000 + MESSAGE_COST) / 1000)
    assert quota.admit("bob", [5_000], stranger=False, now=later) == 1


def test_the_daily_quota_holds_until_the_next_utc_day() -> None:
    quota = InboundQuota(SMALL)
    moment, admitted = NOON, 0
    for _ in range(20):  # well spaced, so the rate never binds: only the daily quota does
        admitted += quota.admit("bob", [5_000], stranger=False, now=moment)
        moment += timedelta(seconds=30)
    assert admitted == 50_000 // (5_000 + MESSAGE_COST)
    tomorrow = NOON.replace(hour=0) + timedelta(days=1, minutes=1)
    assert quota.admit("bob", [5_000], stranger=False, now=tomorrow) == 1


def test_message_requests_share_one_daily_budget_so_fresh_names_do_not_add_up() -> None:
    quota = InboundQuota(SMALL)
    admitted = sum(quota.admit(f"sock{i}", [100, 100], stranger=True, now=NOON) for i in range(10))
    assert admitted == 4  # strangers_daily holds four, whatever the number of names
    assert quota.admit("friend", [100], stranger=False, now=NOON) == 1  # contacts unaffected


def test_a_contact_has_the_larger_allowance() -> None:
    quota = InboundQuota(SMALL)
    assert quota.admit("bob", [100] * 10, stranger=False, now=NOON) == 10
    assert quota.admit("carol", [100] * 10, stranger=True, now=NOON) == 2
