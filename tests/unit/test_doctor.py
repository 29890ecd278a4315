"""The doctor's vocabulary (a fixed list of causes, each with its words and one action) and the
presence note it reads "offline since …" from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chinwag.adapters.memory.clock import ManualClock
from chinwag.application import presence
from chinwag.application.doctor import (
    PEER,
    Cause,
    Variant,
    is_loopback,
    is_wildcard,
    peer_reason,
    round_trip,
    shown,
    when,
)
from chinwag.application.doctor_self import (
    SELF,
    SELF_NO_RELAY,
    SELF_NOT_PROBED_NOW,
    listen_words,
    reachable_words,
    self_cause,
    self_reason,
)
from chinwag.application.ports.directory import Reachability, RegistryStatus
from chinwag.application.presence import LastSeen
from chinwag.domain.user import PeerAddress

HERE = PeerAddress(host="10.0.0.1", port=7421)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ISSUE_CAUSES = {
    "registry_unreachable",
    "not_registered",
    "offline",
    "refused",
    "timeout",
    "key_mismatch",
    "relay_full",
    "relay_limit",
    "relay_off",
    "ok",
}
"""The causes the issue and the design name: all of them are in the list."""


def test_the_list_of_causes_is_fixed_and_holds_every_cause_the_design_names() -> None:
    assert {c.value for c in Cause} >= ISSUE_CAUSES
    assert {c.value for c in Cause} == ISSUE_CAUSES | {
        "unreachable",
        "not_listening",
        "not_checked",
        "not_probed",
    }


def test_every_cause_has_words_and_every_text_one_action() -> None:
    said = set(SELF) | {cause for cause, _ in PEER}
    assert said == set(Cause)
    every = [*SELF.values(), *SELF_NO_RELAY.values(), SELF_NOT_PROBED_NOW, *PEER.values()]
    for advice in every:
        assert advice.what and advice.action
        for action in filter(None, (advice.action, advice.local)):
            assert ";" not in advice.what and ";" not in action  # one "what; action"
            assert action == action.strip() and not action[0].isupper()
    for cause, variant in PEER:
        if cause is not Cause.RELAY_LIMIT:  # your own limit: not about anybody in particular
            assert "{name}" in PEER[(cause, variant)].what


def test_a_variant_without_words_of_its_own_falls_back_to_the_plain_ones() -> None:
    assert peer_reason(Cause.OFFLINE, Variant.PORT_CLOSED, "bob") == peer_reason(
        Cause.OFFLINE, Variant.PLAIN, "bob"
    )


def test_facts_are_filled_in_as_text_never_as_templates() -> None:
    text = peer_reason(Cause.NOT_REGISTERED, Variant.PLAIN, "{port}{name}")
    assert text.startswith("nobody called '{port}{name}' has")


@pytest.mark.parametrize(
    ("registry", "listen", "probe", "cause"),
    [
        (RegistryStatus.CONNECTED, HERE, Reachability.OK, Cause.OK),
        (RegistryStatus.RECONNECTING, HERE, Reachability.OK, Cause.REGISTRY_UNREACHABLE),
        (RegistryStatus.DISCONNECTED, None, Reachability.OK, Cause.REGISTRY_UNREACHABLE),
        (RegistryStatus.CONNECTED, None, Reachability.OK, Cause.NOT_LISTENING),
        (RegistryStatus.CONNECTED, HERE, Reachability.NOT_LISTENING, Cause.NOT_LISTENING),
        (RegistryStatus.CONNECTED, HERE, Reachability.REFUSED, Cause.REFUSED),
        (RegistryStatus.CONNECTED, HERE, Reachability.TIMEOUT, Cause.TIMEOUT),
        (RegistryStatus.CONNECTED, HERE, Reachability.WRONG_KEY, Cause.KEY_MISMATCH),
        (RegistryStatus.CONNECTED, HERE, Reachability.UNKNOWN, Cause.NOT_CHECKED),
        (RegistryStatus.CONNECTED, HERE, Reachability.NOT_PROBED, Cause.NOT_PROBED),
    ],
)
def test_the_self_cause_puts_the_registry_first_then_listening_then_the_probe(
    registry: RegistryStatus, listen: PeerAddress | None, probe: Reachability, cause: Cause
) -> None:
    assert self_cause(registry, listen, probe) is cause


def test_self_reasons_name_the_address_and_the_port_to_open() -> None:
    text = self_reason(Cause.REFUSED, RegistryStatus.CONNECTED, HERE)
    assert "10.0.0.1:7421" in text and "forward port 7421" in text
    assert "nowhere" in self_reason(Cause.NOT_CHECKED, RegistryStatus.CONNECTED, None)


def test_without_a_relay_no_self_reason_says_messages_come_through_it() -> None:
    for cause in SELF:
        text = self_reason(cause, RegistryStatus.CONNECTED, HERE, relay=False)
        assert "through the registry's relay" not in text, cause
        assert "fall back to the relay" not in text, cause


@pytest.mark.parametrize(
    ("host", "loopback", "wildcard"),
    [
        ("127.0.0.1", True, False),
        ("127.3.2.1", True, False),
        ("::1", True, False),
        ("localhost", True, False),
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("10.0.0.1", False, False),
        ("bob.example", False, False),
    ],
)
def test_loopback_and_wildcard_addresses(host: str, loopback: bool, wildcard: bool) -> None:
    address = PeerAddress(host=host, port=7421)
    assert (is_loopback(address), is_wildcard(address)) == (loopback, wildcard)
    assert shown(address) == ("port 7421" if wildcard else str(address))


def test_round_trips_in_words() -> None:
    assert [round_trip(ms) for ms in (None, 0.0, 0.4, 0.96, 1.0, 41.6)] == [
        "",
        "under 1 ms",
        "under 1 ms",
        "under 1 ms",
        "1 ms",
        "42 ms",
    ]


def test_your_connection_in_a_few_words() -> None:
    wildcard = PeerAddress(host="0.0.0.0", port=45625)
    assert listen_words(wildcard) == "listening on port 45625"
    assert listen_words(HERE) == "listening on 10.0.0.1:7421"
    assert listen_words(None) == "accepting no direct connections"
    assert reachable_words(Cause.OK, True) == "reachable directly"
    assert reachable_words(Cause.REFUSED, False) == "not reachable directly"
    assert "unknown" in reachable_words(Cause.REGISTRY_UNREACHABLE, False)


def test_when_says_the_hour_today_and_the_date_before() -> None:
    moment = T0.astimezone()
    assert when(T0, T0 + timedelta(minutes=3)) == f"{moment:%H:%M}"
    earlier = when(T0, T0 + timedelta(days=2))
    assert earlier.endswith(f"{moment:%H:%M}") and f"{moment:%b}" in earlier


# -- last seen ---------------------------------------------------------------------------------


def test_a_departure_is_noted_and_forgotten_when_they_come_back() -> None:
    clock = ManualClock(T0, timedelta(0))
    seen = LastSeen(clock)
    seen.presence(frozenset({"bob", "carol"}))  # the first list: nobody left
    assert seen.since("bob") is None
    clock.advance(timedelta(minutes=7))
    seen.presence(frozenset({"carol"}))
    assert seen.since("bob") == T0 + timedelta(minutes=7)
    seen.presence(frozenset({"bob", "carol"}))
    assert seen.since("bob") is None


def test_departures_are_not_noted_while_the_registry_is_away() -> None:
    clock = ManualClock(T0, timedelta(0))
    seen = LastSeen(clock)
    seen.presence(frozenset({"bob", "carol"}))
    seen.registry(RegistryStatus.RECONNECTING)
    seen.presence(frozenset())  # a lost registry says nothing about anybody
    seen.registry(RegistryStatus.CONNECTED)
    seen.presence(frozenset({"carol"}))  # bob left at some unknown moment
    assert seen.since("bob") is None and seen.since("carol") is None
    clock.advance(timedelta(minutes=1))
    seen.presence(frozenset())
    assert seen.since("carol") == T0 + timedelta(minutes=1)


def test_last_seen_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presence, "MAX_REMEMBERED", 3)
    seen = LastSeen(ManualClock(T0))
    names = [f"user{n}" for n in range(5)]
    seen.presence(frozenset(names))
    for n in range(5):
        seen.presence(frozenset(names[n + 1 :]))
    assert [seen.since(name) is not None for name in names] == [False, False, True, True, True]
