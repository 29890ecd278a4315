"""A member rewriting the group's membership history with a leave forked from the past (the
fork choice's review): it must undo nothing at any member.

mallory, a member but no admin, may leave; she signs a leave that follows an *old* change,
where it is valid (she was a member then), grinding its time until its hash is smaller than
the real next change's. Under the smallest-hash rule it took the chain there and orphaned
everything after. Under the rule now (``domain/group_fork.py``: the branch reaching the most
admins' changes wins) every member holds it as a valid branch that loses, stores nothing of it,
and keeps the chain, the state and the messages it had.

Everything is real (see :mod:`tests.group_attack_support`): Ed25519 signatures, Noise sessions
over TCP, SQLite, a registry server.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from chinwag.application.groups.view import GroupView
from chinwag.domain.group import Change, ChangeKind
from tests.group_attack_support import Attacker, Member, World, world

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def view_of(member: Member, group: UUID) -> GroupView:
    view: GroupView | None = await member.container.use_cases.group_book().view(group)
    assert view is not None, f"{member.name} does not know the group"
    return view


async def stored(member: Member, group: UUID) -> set[bytes]:
    changes = await member.container.adapters.groups().changes(group)
    return {change.hash() for change in changes}


async def forked_leave(mallory: Attacker, group: UUID, version: int, below: bytes) -> Change:
    """mallory's own leave following the change at ``version`` of the chain she holds, its
    time ground until its hash is smaller than ``below``."""
    base = (await view_of(mallory, group)).states[version]
    start = datetime.now(UTC)
    for n in itertools.count():
        leave = mallory.sign_change(
            Change(
                group=group,
                kind=ChangeKind.LEAVE,
                version=version + 1,
                prev=base.head,
                author="mallory",
                at=start + timedelta(milliseconds=n),
            )
        )
        if leave.hash() < below:
            return leave
    raise AssertionError("unreachable")


async def all_hold(w: World, group: UUID, body: str, *names: str) -> None:
    """Wait until each of ``names`` stores a message with ``body``."""
    for name in names:
        member = w[name]

        async def has(member: Member = member) -> bool:
            return body in [m.body for m in await member.history(group)]

        deadline = asyncio.get_running_loop().time() + 30
        while not await has():
            assert asyncio.get_running_loop().time() < deadline, f"{name} never got {body!r}"
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "fork_from", [pytest.param(1, id="from-version-1"), pytest.param(2, id="from-the-heads-parent")]
)
def test_a_members_leave_forked_from_the_past_undoes_nothing_at_any_member(
    tmp_path: Path, fork_from: int
) -> None:
    """alice renames the group twice and makes bob an admin (versions 1 to 3). mallory's leave
    forked at ``fork_from``, with a smaller hash than the change there, reaches every member:
    each holds it as a valid branch that loses, stores none of it, keeps versions 1 to 3 as
    they were, and the group goes on from its real head (mallory still in it)."""

    async def scenario(w: World) -> None:
        alice, mallory = w["alice"], w.mallory
        honest = w.honest()
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        await alice.rename(gid, "Friends, one")
        await alice.rename(gid, "Friends, two")
        await alice.container.use_cases.groups().make_admin(gid, "bob")
        await w.at_version(gid, 3, "bob", "carol", "mallory")
        await alice.post(gid, "under version 3")
        await all_hold(w, gid, "under version 3", "bob", "carol", "mallory")
        chain = (await view_of(alice, gid)).chain
        rival = chain[fork_from + 1]
        forked = await forked_leave(mallory, gid, fork_from, below=rival.hash())
        assert forked.hash() < rival.hash()  # the smallest-hash rule would take it
        for member in honest:
            heard = member.heard("changes", "mallory")
            await mallory.send_changes(member.name, [forked])
            await member.hears("changes", "mallory", heard)
        for member in honest:
            view = await view_of(member, gid)
            assert view.chain == chain, member.name
            assert forked.hash() in view.side, member.name  # judged valid: it lost on the rule
            assert forked.hash() not in await stored(member, gid), member.name
            head = view.head
            assert head.version == 3 and head.name == "Friends, two", member.name
            assert head.admins == {"alice", "bob"} and head.is_member("mallory"), member.name
            assert "under version 3" in [m.body for m in await member.history(gid)]
        # The group goes on from its real head, mallory included.
        await alice.rename(gid, "Friends, three")
        await w.at_version(gid, 4, "bob", "carol", "mallory")
        await alice.post(gid, "under version 4")
        await all_hold(w, gid, "under version 4", "bob", "carol", "mallory")
        for member in honest:
            assert (await view_of(member, gid)).chain[:4] == chain, member.name

    async def main() -> None:
        async with world(tmp_path, "alice", "bob", "carol") as w:
            await scenario(w)

    asyncio.run(main())
