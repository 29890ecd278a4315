"""The online set across a reconnection: names the new snapshot lacks are kept for a grace."""

from __future__ import annotations

import asyncio

from chinwag.adapters.registry.presence_view import PresenceView
from tests.support import wait_until


class Told:
    def __init__(self) -> None:
        self.sets: list[frozenset[str]] = []

    def __call__(self, online: frozenset[str]) -> None:
        self.sets.append(online)


def test_a_first_snapshot_is_the_registrys_word() -> None:
    async def scenario() -> None:
        told = Told()
        view = PresenceView(told, grace=60)
        view.snapshot({"bob"}, reconnected=False)
        view.snapshot({"carol"}, reconnected=False)
        assert told.sets == [frozenset({"bob"}), frozenset({"carol"})]

    asyncio.run(scenario())


def test_after_a_reconnection_nobody_leaves_and_comes_back() -> None:
    async def scenario() -> None:
        told = Told()
        view = PresenceView(told, grace=60)
        view.snapshot({"bob", "carol", "dave"}, reconnected=False)
        view.snapshot({"bob"}, reconnected=True)  # the registry restarted: only bob is back
        view.changed(joined={"carol"}, left=())  # carol registers again
        assert all(s == {"bob", "carol", "dave"} for s in told.sets)
        view.changed(joined=(), left={"dave"})  # a real departure is said at once
        assert told.sets[-1] == {"bob", "carol"}

    asyncio.run(scenario())


def test_whoever_is_not_back_when_the_grace_ends_goes() -> None:
    async def scenario() -> None:
        told = Told()
        view = PresenceView(told, grace=0.05)
        view.snapshot({"bob", "dave"}, reconnected=False)
        view.snapshot({"bob"}, reconnected=True)
        assert view.online == {"bob", "dave"}
        await wait_until(lambda: view.online == {"bob"}, 5, "dave to go")
        assert told.sets[-1] == {"bob"}

    asyncio.run(scenario())


def test_clearing_forgets_the_grace() -> None:
    async def scenario() -> None:
        told = Told()
        view = PresenceView(told, grace=0.05)
        view.snapshot({"bob"}, reconnected=False)
        view.snapshot(set(), reconnected=True)
        view.clear()
        assert view.online == frozenset() and told.sets[-1] == frozenset()
        assert view._timer is None  # nothing left to fire later

    asyncio.run(scenario())
