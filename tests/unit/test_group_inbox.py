"""A peer's group frames on their way to the application: one at a time per lane, the newest
have per group, changes in order, and a flood held to its bounds (dropped past them)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.transport.group_inbox import GroupInbox, GroupInboxes, weight
from chinwag.application.errors import ChatError
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake
from chinwag.domain.group import Change
from tests.group_frames_support import create, log
from tests.support import wait_until

pytestmark = pytest.mark.timeout(30)


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await coroutine

    asyncio.run(bounded())


class Gated(NoFiles):
    """An application that takes group frames only while its gate is open, and records them;
    ``broken`` makes it raise instead (once each)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.haves: list[GroupHave] = []
        self.changes: list[list[Change]] = []
        self.in_hand = 0
        self.most_in_hand = 0
        self.broken: list[Exception] = []

    async def authorize(self, peer: str, key: bytes) -> None:
        return None

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[])

    async def _take(self) -> None:
        self.in_hand += 1
        self.most_in_hand = max(self.most_in_hand, self.in_hand)
        try:
            await self.gate.wait()
            if self.broken:
                raise self.broken.pop()
        finally:
            self.in_hand -= 1

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        await self._take()
        self.haves.append(have)

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        await self._take()
        self.changes.append(list(changes))


def have(group: UUID, version: int = 1, authors: int = 1) -> GroupHave:
    return GroupHave(group, version, bytes(32), {f"m{i}": i for i in range(authors)})


def test_only_the_newest_pending_have_of_a_group_is_handed_over() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inbox = GroupInbox("alice", app)
        first, second = uuid4(), uuid4()
        inbox.have(have(first, 1))  # taken at once: in hand while the rest wait
        await wait_until(lambda: app.in_hand == 1)
        for version in range(2, 50):
            inbox.have(have(first, version))
            inbox.have(have(second, version))
        app.gate.set()
        await wait_until(lambda: inbox.idle)
        assert [(h.group, h.version) for h in app.haves] == [
            (first, 1),
            (first, 49),
            (second, 49),
        ]
        assert app.most_in_hand == 1 and inbox.dropped == 0

    run(scenario())


def test_changes_are_handed_in_order_one_frame_at_a_time() -> None:
    async def scenario() -> None:
        app = Gated()
        inbox = GroupInbox("alice", app)
        frames = [[create(3)], log(4, adds=3, wide=False), [create(2)]]
        for frame in frames:
            inbox.changes(frame)
        await inbox.changes_handed()
        assert app.changes == frames
        assert app.most_in_hand == 1

    run(scenario())


def test_a_flood_of_haves_is_held_to_its_bound_and_the_rest_dropped() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inbox = GroupInbox("mallory", app, max_authors=100)
        for _ in range(10_000):
            inbox.have(have(uuid4(), authors=9))  # 10 each: 10 wait (none in hand yet)
        assert inbox.dropped == 10_000 - 10
        app.gate.set()
        await wait_until(lambda: inbox.idle)
        assert len(app.haves) == 10

    run(scenario())


def test_a_newer_have_too_big_to_wait_leaves_the_older_one_waiting() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inbox = GroupInbox("mallory", app, max_authors=20)
        group = uuid4()
        inbox.have(have(uuid4()))
        await wait_until(lambda: app.in_hand == 1)
        inbox.have(have(group, 1, authors=5))
        inbox.have(have(uuid4(), authors=9))
        inbox.have(have(group, 2, authors=15))  # 16 + 10 > 20: dropped, version 1 stays
        assert inbox.dropped == 1
        app.gate.set()
        await wait_until(lambda: inbox.idle)
        assert [h.version for h in app.haves if h.group == group] == [1]

    run(scenario())


def test_a_flood_of_changes_is_held_to_its_bound_and_the_rest_dropped() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inbox = GroupInbox("mallory", app, max_changes=100)
        big = log(256, wide=False)  # one create of 256: over the bound alone
        assert weight(big) == 256
        inbox.changes(big)  # nothing waits: taken whatever its weight
        await wait_until(lambda: app.in_hand == 1)
        inbox.changes(big)  # nothing waits: may wait whatever its weight
        for _ in range(1000):
            inbox.changes([create(2)])  # weight 2 each: none fits behind the big one
        assert inbox.dropped == 1000
        handed = inbox.changes_handed()
        app.gate.set()
        await handed
        assert app.changes == [big, big]

    run(scenario())


def test_changes_wait_behind_others_only_within_the_bound() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inbox = GroupInbox("mallory", app, max_changes=10)
        inbox.changes([create(2)])
        await wait_until(lambda: app.in_hand == 1)
        for _ in range(20):
            inbox.changes([create(2)])  # 2 each: 5 wait
        assert inbox.dropped == 15
        app.gate.set()
        await inbox.changes_handed()
        assert len(app.changes) == 6

    run(scenario())


def test_what_the_application_raises_does_not_stop_the_lane() -> None:
    async def scenario() -> None:
        app = Gated()
        app.broken = [RuntimeError("disk on fire"), ChatError("not signed in")]
        inbox = GroupInbox("alice", app)
        for _ in range(3):
            inbox.changes([create(2)])
            inbox.have(have(uuid4()))
        await inbox.changes_handed()
        await wait_until(lambda: inbox.idle)
        assert len(app.changes) + len(app.haves) == 4

    run(scenario())


def test_inboxes_are_kept_per_peer_while_busy_and_forgotten_when_idle() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inboxes = GroupInboxes(app)
        inboxes.of("alice").have(have(uuid4()))
        inboxes.of("bob").changes([create(2)])
        assert inboxes.of("alice") is inboxes.of("alice")
        assert len(inboxes) == 2
        await inboxes.changes_handed("carol")  # nothing from carol: at once
        app.gate.set()
        await inboxes.changes_handed("bob")
        await wait_until(lambda: len(inboxes) == 0, what="idle inboxes forgotten")

    run(scenario())


def test_close_stops_what_is_in_hand_and_drops_what_waits() -> None:
    async def scenario() -> None:
        app = Gated()
        app.gate.clear()
        inboxes = GroupInboxes(app)
        inboxes.of("alice").changes([create(2)])
        inboxes.of("alice").changes([create(2)])
        inboxes.of("alice").have(have(uuid4()))
        await wait_until(lambda: app.in_hand == 2)
        await inboxes.close()
        assert app.in_hand == 0 and app.changes == [] and app.haves == []
        assert len(inboxes) == 0

    run(scenario())
