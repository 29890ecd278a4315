"""The presence outbox: changes of one loop pass leave in one push, a name that came and went
between two pushes is in neither, and a client gets at most its burst and then PUSH_RATE pushes
a second however fast names churn."""

from __future__ import annotations

import pytest

from chinwag.application.registry.outbox import PresenceOutbox, PresenceOutboxes
from chinwag.application.registry.sessions import ClientSession
from chinwag.domain.registry.presence import PUSH_BURST, PUSH_RATE
from tests.unit.registry_world import ManualTicker, RecordingClient, World, client_of


def outbox_world() -> tuple[World, PresenceOutboxes, ClientSession, PresenceOutbox]:
    world = World()
    outboxes = PresenceOutboxes(world.ticker, world.stats)
    session = world.session("watcher")
    return world, outboxes, session, outboxes.of(session)


def noted_total(world: World) -> int:
    return world.stats.presence_pushes + world.stats.presence_coalesced


def test_a_lone_change_leaves_at_the_end_of_its_pass() -> None:
    world, outboxes, session, outbox = outbox_world()
    assert outboxes.of(session) is outbox and session.outbox is outbox  # one per session
    outbox.note("bob", True)
    assert client_of(session).pushes == 0  # not within the pass
    assert world.ticker.turn() == 1
    assert client_of(session).changes == [(["bob"], [])]
    assert world.stats.presence_pushes == 1 and world.stats.presence_coalesced == 0


def test_the_changes_of_one_pass_leave_in_one_push_in_the_order_noted() -> None:
    world, outboxes, session, outbox = outbox_world()
    other = world.session("other")
    outbox.note("carol", True)
    outbox.note("bob", True)
    outbox.note("dave", False)
    outboxes.of(other).note("bob", True)
    assert world.ticker.turn() == 1  # one flush for every outbox of the pass
    assert client_of(session).changes == [(["carol", "bob"], ["dave"])]
    assert client_of(other).changes == [(["bob"], [])]
    assert world.stats.presence_pushes == 2 and noted_total(world) == 4


def test_a_join_and_leave_within_one_pass_cancel() -> None:
    world, _, session, outbox = outbox_world()
    outbox.note("bob", True)
    outbox.note("bob", False)
    outbox.note("carol", False)
    outbox.note("carol", True)
    world.ticker.settle()
    assert client_of(session).calls == []
    assert world.stats.presence_pushes == 0 and world.stats.presence_coalesced == 4


def test_past_the_burst_changes_wait_for_a_token_and_coalesce_meanwhile() -> None:
    world, _, session, outbox = outbox_world()
    client, ticker = client_of(session), world.ticker
    for n in range(PUSH_BURST):
        outbox.note(f"u{n}", True)
        ticker.settle()
    assert client.pushes == PUSH_BURST  # the burst leaves at once, a push per pass
    outbox.note("bob", True)
    ticker.settle()
    assert client.pushes == PUSH_BURST and outbox.waiting and outbox.pending == 1
    outbox.note("bob", False)  # came and went within the wait
    outbox.note("carol", True)
    wait = 1.0 / PUSH_RATE
    ticker.advance(wait * 0.9)
    assert client.pushes == PUSH_BURST  # no token yet
    ticker.advance(wait * 0.1)
    assert client.changes[-1] == (["carol"], []) and not outbox.waiting
    assert "bob" not in client.seen_online()
    assert noted_total(world) == PUSH_BURST + 3


def test_a_wait_whose_changes_all_cancel_pushes_nothing() -> None:
    world, _, session, outbox = outbox_world()
    for n in range(PUSH_BURST):
        outbox.note(f"u{n}", True)
        world.ticker.settle()
    outbox.note("bob", True)
    world.ticker.settle()
    outbox.note("bob", False)
    world.ticker.advance(1.0)
    assert client_of(session).pushes == PUSH_BURST and world.ticker.pending == 0


@pytest.mark.parametrize("seconds", [1, 5])
def test_churn_at_1000_changes_a_second_costs_a_watcher_its_burst_and_4_a_second(
    seconds: int,
) -> None:
    world, _, session, outbox = outbox_world()
    client, ticker = client_of(session), world.ticker
    online: dict[str, bool] = {}
    steps = 1000 * seconds
    for step in range(steps):
        name = f"flap{step % 7}"
        online[name] = not online.get(name, False)
        outbox.note(name, online[name])
        ticker.advance(0.001)
    ticker.advance(1.0)  # the last token comes; nothing is left behind
    assert client.pushes <= PUSH_BURST + PUSH_RATE * (seconds + 1)
    assert client.pushes >= PUSH_RATE * seconds  # the budget is used, not starved
    assert client.seen_online() == {name for name, on in online.items() if on}
    assert noted_total(world) == steps and outbox.pending == 0


def test_the_bucket_refills_after_a_quiet_spell() -> None:
    world, _, session, outbox = outbox_world()
    for round_ in range(2):
        for n in range(PUSH_BURST):
            outbox.note(f"r{round_}u{n}", True)
            world.ticker.settle()
        assert client_of(session).pushes == PUSH_BURST * (round_ + 1)
        world.ticker.advance(PUSH_BURST / PUSH_RATE)  # a full bucket again


def test_clear_forgets_what_is_pending_and_the_planned_flush() -> None:
    world, _, session, outbox = outbox_world()
    for n in range(PUSH_BURST):
        outbox.note(f"u{n}", True)
        world.ticker.settle()
    outbox.note("bob", True)
    world.ticker.settle()
    assert outbox.waiting
    outbox.clear()  # a whole presence is about to go
    assert not outbox.waiting and outbox.pending == 0 and world.ticker.pending == 0
    world.ticker.advance(5.0)
    assert client_of(session).pushes == PUSH_BURST
    outbox.note("carol", True)  # the next change leaves at once (tokens came back)
    world.ticker.settle()
    assert client_of(session).changes[-1] == (["carol"], [])


def test_a_closed_sessions_outbox_pushes_nothing() -> None:
    world, _, session, outbox = outbox_world()
    outbox.note("bob", True)
    session.closed = True
    world.ticker.settle()
    for n in range(20):
        outbox.note(f"u{n}", True)
    world.ticker.advance(10.0)
    assert client_of(session).calls == [] and outbox.pending == 0


def test_rate_and_burst_are_the_registrys_to_choose() -> None:
    ticker = ManualTicker()
    world = World(ticker=ticker)
    outboxes = PresenceOutboxes(ticker, world.stats, rate=1.0, burst=1)
    session = ClientSession(b"k" * 32, "198.51.100.7", RecordingClient())
    outbox = outboxes.of(session)
    outbox.note("a", True)
    ticker.settle()
    outbox.note("b", True)
    ticker.advance(0.99)
    assert client_of(session).pushes == 1
    ticker.advance(0.01)
    assert client_of(session).pushes == 2
    with pytest.raises(ValueError, match="rate"):
        PresenceOutboxes(ticker, world.stats, rate=0.0)
