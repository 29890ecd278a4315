"""The registry's refusals, said once and then summed up (not a line per refused connection)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chinwag.adapters.registry.limits import RefusalLog


class Later:
    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, then: Callable[[], None]) -> None:
        self.pending.append((delay, then))

    def run(self) -> None:
        _, then = self.pending.pop(0)
        then()


def test_the_first_refusal_is_said_at_once_and_a_flood_in_one_line_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = Later()
    refusals = RefusalLog(later, every=10.0)
    with caplog.at_level("WARNING"):
        refusals.refused("203.0.113.5", "1000 connections from that address")
        for _ in range(500):
            refusals.refused("203.0.113.5", "1000 connections from that address")
        refusals.refused("198.51.100.7", "10000 connections open")
        assert len(caplog.records) == 1
        assert "refused a connection from 203.0.113.5" in caplog.text
        later.run()  # ten seconds on: one line for the 501 more
        assert len(caplog.records) == 2
        assert "refused 501 more connection(s) in 10 s" in caplog.records[1].getMessage()
        assert "most from 203.0.113.5 (500)" in caplog.records[1].getMessage()
        later.run()  # a quiet window: nothing said, and the next refusal is said at once
        assert len(caplog.records) == 2 and not later.pending
        refusals.refused("198.51.100.7", "10000 connections open")
        assert len(caplog.records) == 3
