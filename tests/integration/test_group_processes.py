"""Group chat as users run it (issue 10): a real registry and ``chinwag-cli --json`` processes on
loopback. Every member ends with the same messages, once each, in each author's order, whoever
was offline, killed or behind ``--listen none`` meanwhile."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.processes import CliProcess, RegistryProcess, start
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

Event = dict[str, Any]


def create(owner: CliProcess, name: str, *members: str) -> str:
    """``owner`` creates a group; its id, once every member named is in it."""
    answer = owner.ask("group", {"cmd": "group_create", "name": name, "members": list(members)})
    assert answer["event"] == "group", answer
    assert answer["members"] == [owner.user, *members], answer
    assert answer["admins"] == [owner.user] and answer["version"] == 0, answer
    gid: str = answer["id"]
    return gid


def group_history(client: CliProcess, gid: str) -> list[Event]:
    answer = client.ask("history", {"cmd": "history", "group": gid, "limit": 500})
    assert answer["event"] == "history" and answer["group"] == gid, answer
    messages: list[Event] = answer["messages"]
    return messages


def bodies_by_author(messages: list[Event]) -> dict[str, list[str]]:
    """Each author's bodies, in the order stored."""
    found: dict[str, list[str]] = {}
    for message in messages:
        found.setdefault(message["from"], []).append(message["body"])
    return found


def same_everywhere(members: list[CliProcess], gid: str, expected: dict[str, list[str]]) -> None:
    """Every member stores exactly ``expected``: each author's messages once, in order."""
    for member in members:
        messages = group_history(member, gid)
        ids = [m["id"] for m in messages]
        assert len(ids) == len(set(ids)), f"{member.user} stored a message twice"
        assert bodies_by_author(messages) == expected, member.user


def test_four_members_post_and_everyone_gets_everything_once_in_each_authors_order(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    names = ["alice", "bob", "carol", "dave"]
    members = [start(clients, name, registry, tmp_path / name) for name in names]
    members[0].wait_online(*names[1:])
    gid = create(members[0], "Friends", *names[1:])
    for member in members[1:]:
        joined = member.wait_event("group", id=gid)
        assert joined["members"] == names and joined["name"] == "Friends"
    for member in members:
        member.send_all(
            {"cmd": "send", "group": gid, "body": f"{member.user} #{n}"} for n in range(5)
        )
    for member in members:
        member.wait_count(15, "message", group=gid, timeout=60)
        assert all(m.get("to") is None for m in member.of("message", group=gid))
    for member in members:  # every delivery to every other member acknowledged
        member.wait_count(5 * 3, "status", group=gid, state="delivered", timeout=60)
    same_everywhere(members, gid, {n: [f"{n} #{i}" for i in range(5)] for n in names})
    listed = members[2].ask("groups", {"cmd": "groups"})
    assert [g["id"] for g in listed["groups"]] == [gid], listed


def test_an_offline_member_catches_up_from_another_member_after_the_author_left(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    carol = start(clients, "carol", registry, tmp_path / "c")
    alice.wait_online("bob", "carol")
    gid = create(alice, "Book club", "bob", "carol")
    carol.wait_event("group", id=gid)
    bob.wait_event("group", id=gid)
    assert carol.quit() == 0
    alice.send_all({"cmd": "send", "group": gid, "body": f"while away {n}"} for n in range(10))
    bob.wait_count(10, "message", group=gid)
    alice.wait_count(10, "status", group=gid, to="bob", state="delivered")
    assert alice.quit() == 0  # the author is gone before carol is back
    carol = start(clients, "carol", registry, tmp_path / "c")
    carol.wait_count(10, "message", group=gid, timeout=60)
    same_everywhere([bob, carol], gid, {"alice": [f"while away {n}" for n in range(10)]})


def test_a_removed_member_gets_nothing_new_and_cannot_post(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    carol = start(clients, "carol", registry, tmp_path / "c")
    alice.wait_online("bob", "carol")
    gid = create(alice, "Team", "bob", "carol")
    carol.wait_event("group", id=gid)
    alice.send(cmd="send", group=gid, body="before")
    carol.wait_event("message", group=gid, body="before")
    removed = alice.ask("group", {"cmd": "group_remove", "group": gid, "member": "carol"})
    assert removed["members"] == ["alice", "bob"] and removed["version"] == 1, removed
    assert carol.wait_event("group", id=gid, left=True)["members"] == ["alice", "bob"]
    bob.wait_event("group", id=gid, version=1)
    alice.send(cmd="send", group=gid, body="after")
    bob.wait_event("message", group=gid, body="after")
    alice.wait_event("status", group=gid, to="bob", state="delivered")
    refusal = carol.ask("error", {"cmd": "send", "group": gid, "body": "let me back in"})
    assert refusal["code"] == "not_a_member", refusal
    not_admin = bob.ask("error", {"cmd": "group_add", "group": gid, "member": "carol"})
    assert not_admin["code"] == "not_an_admin", not_admin
    assert [m["body"] for m in group_history(carol, gid)] == ["before"]
    assert carol.count("message", body="after") == 0
    assert [m["body"] for m in group_history(bob, gid)] == ["before", "after"]


def test_a_member_behind_listen_none_takes_part_through_the_relay(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b", "--listen", "none")
    carol = start(clients, "carol", registry, tmp_path / "c")
    alice.wait_online("bob", "carol")
    gid = create(alice, "Behind a NAT", "bob", "carol")
    bob.wait_event("group", id=gid)
    bob.send(cmd="send", group=gid, body="from behind the NAT")
    alice.send(cmd="send", group=gid, body="to everyone")
    for member in (alice, carol):
        member.wait_event("message", group=gid, body="from behind the NAT")
    bob.wait_event("message", group=gid, body="to everyone")
    delivered = alice.wait_event("status", group=gid, to="bob", state="delivered")
    assert delivered.get("path") == "relayed", delivered


def test_changes_and_posts_while_members_are_killed_converge(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    """Two admins change the membership concurrently while everyone posts and members are
    killed and restarted: at the end every current member has the same membership and the same
    messages, none twice."""
    names = ["alice", "bob", "carol", "dave", "erin"]
    running = {name: start(clients, name, registry, tmp_path / name) for name in names}
    running["alice"].wait_online(*names[1:])
    gid = create(running["alice"], "Churn", "bob", "carol", "dave")
    running["bob"].wait_event("group", id=gid)
    running["alice"].ask("group", {"cmd": "group_admin", "group": gid, "member": "bob"})
    running["bob"].wait_event("group", id=gid, version=1)
    rng = random.Random(10)
    posted: dict[str, list[str]] = {name: [] for name in names[:4]}
    for round_ in range(4):
        # Concurrent changes by the two admins: where they conflict one chain wins everywhere,
        # and the loser's change is written again on top of it.
        running["alice"].send(cmd="group_add", group=gid, member="erin")
        running["bob"].send(cmd="group_rename", group=gid, name=f"Churn {round_}")
        for name in posted:
            body = f"{name} r{round_}"
            running[name].send(cmd="send", group=gid, body=body, ref=body)
            posted[name].append(body)
        victim = rng.choice(["carol", "dave"])
        # Committed (its first status is written after the commit), then SIGKILL.
        running[victim].wait_event("status", ref=f"{victim} r{round_}")
        running[victim].kill()
        running[victim] = start(clients, victim, registry, tmp_path / victim)
    members = [running[name] for name in names]
    everyone = {name: len(bodies) for name, bodies in posted.items()}

    def settled() -> bool:
        for member in members:
            messages = group_history(member, gid)
            if {a: len(b) for a, b in bodies_by_author(messages).items()} != everyone:
                return False
        return True

    wait_until_sync(settled, timeout=90, what="every member to hold every message")
    listed = [m.ask("groups", {"cmd": "groups"})["groups"] for m in members]
    assert all(groups == listed[0] for groups in listed), listed
    (group,) = listed[0]
    assert set(group["members"]) == set(names) and group["name"] == "Churn 3", group
    same_everywhere(members, gid, posted)
