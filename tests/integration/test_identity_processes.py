"""Identities between whole processes: a real registry and ``chinwag-cli --json`` clients.

Names are bound to the first key that registers them, contacts and registries are pinned on
first use, and a changed key stops everything with that contact until the user accepts it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from chinwag.entrypoints.settings import NAME_MAX
from tests.processes import (
    CliProcess,
    RegistryProcess,
    history,
    launch,
    refused,
    release,
    start,
    user_folder,
)
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SAFETY_NUMBER = re.compile(r"\d{5}( \d{5}){11}")


def chat(sender: CliProcess, recipient: CliProcess, body: str) -> str:
    """``sender`` sends ``body``; wait until ``recipient`` has it and ``sender`` knows. Its id."""
    mark = sender.mark()
    sender.send(cmd="send", to=recipient.user, body=body)
    message_id: str = sender.wait_event("status", since=mark, to=recipient.user)["id"]
    recipient.wait_event("message", id=message_id, body=body)
    sender.wait_event("status", id=message_id, state="delivered")
    return message_id


def send_all(sender: CliProcess, to: str, bodies: list[str]) -> list[str]:
    """Send ``bodies`` to ``to``; their ids, in order, once each was taken (its first status).
    Call it with nothing else under way to ``to``: the statuses after it are taken as theirs."""
    mark = sender.mark()
    for body in bodies:
        sender.send(cmd="send", to=to, body=body)

    def taken() -> list[str]:
        return list(dict.fromkeys(e["id"] for e in sender.of("status", since=mark, to=to)))

    wait_until_sync(lambda: len(taken()) >= len(bodies), 15, f"{len(bodies)} sent to {to}")
    assert len(taken()) == len(bodies)
    return taken()


def received(client: CliProcess, sender: str) -> list[tuple[str, str]]:
    """``(id, body)`` of every message ``client`` was shown from ``sender``, in order."""
    return [(e["id"], e["body"]) for e in client.of("message") if e["from"] == sender]


def test_a_name_bound_to_another_key_is_refused_and_never_gets_the_owners_messages(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice_key = alice.wait_event("ready")["fingerprint"]
    bob = start(clients, "bob", registry, tmp_path / "b")
    chat(bob, alice, "hi alice")

    # Another data folder is another key: refused while the owner is online...
    error = refused(launch(clients, "alice", registry, tmp_path / "impostor"), "name_taken")
    assert "alice" in error["message"]
    assert alice.quit() == 0
    bob.wait_for(lambda e: e.get("event") == "presence" and "alice" not in e["online"])

    # ... and while the owner is offline, with messages waiting for them.
    bodies = [f"for alice only {n}" for n in range(3)]
    ids = send_all(bob, "alice", bodies)
    for message_id in ids:
        bob.wait_event("status", id=message_id, state="queued")
    for spelling in ("alice", "Alice"):
        impostor = launch(clients, spelling, registry, tmp_path / "impostor")
        refused(impostor, "name_taken")  # its only event: no `ready`, no `message`
    with closing(sqlite3.connect(history(tmp_path / "impostor", "alice"))) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)

    alice = start(clients, "alice", registry, tmp_path / "a")  # the owner, with the key
    assert alice.wait_event("ready")["fingerprint"] == alice_key
    for message_id in ids:
        bob.wait_event("status", id=message_id, state="delivered")
    assert received(alice, "bob") == list(zip(ids, bodies, strict=True))
    assert [m["body"] for m in alice.history("bob")] == ["hi alice", *bodies]


def test_a_new_key_for_a_released_name_is_held_until_trusted_then_all_arrives_once_in_order(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    old_key = alice.wait_event("ready")["fingerprint"]
    bob = start(clients, "bob", registry, tmp_path / "b")
    hello_bob = chat(alice, bob, "hello bob")
    hello_alice = chat(bob, alice, "hello alice")
    assert alice.quit() == 0
    bob.wait_for(lambda e: e.get("event") == "presence" and "alice" not in e["online"])

    # The operator frees the name (alice lost her key), on the running registry's data.
    unknown = release(registry.data_dir, "nobody")
    assert unknown.returncode == 2
    assert unknown.stdout == "" and len(unknown.stderr.splitlines()) == 1, unknown
    assert "nobody" in unknown.stderr
    freed = release(registry.data_dir, "Alice")
    assert freed.returncode == 0, freed
    assert len(freed.stdout.splitlines()) == 1 and freed.stderr == "", freed
    assert "alice" in freed.stdout

    alice = start(clients, "alice", registry, tmp_path / "new-a")
    new_key = alice.wait_event("ready")["fingerprint"]
    assert new_key != old_key
    bob.wait_online("alice")

    # bob -> alice: bob is told at once, and nothing leaves.
    from_bob = ["are you really alice?", "say something only alice knows"]
    bob_ids = send_all(bob, "alice", from_bob)
    changed = bob.wait_event("identity", state="changed")
    assert changed == {
        "event": "identity",
        "with": "alice",
        "state": "changed",
        "fingerprint": new_key,
        "previous": old_key,
    }
    for message_id in bob_ids:
        bob.wait_event("status", id=message_id, state="queued", reason="identity_changed")

    # alice -> bob: bob stores nothing, alice's wait.
    from_alice = ["it is me, new key", "I lost my laptop"]
    alice_ids = send_all(alice, "bob", from_alice)
    for message_id in alice_ids:
        alice.wait_event("status", id=message_id, state="queued", reason="identity_changed")
    assert alice.count("message") == 0
    assert received(bob, "alice") == [(hello_bob, "hello bob")]  # from before the change
    assert bob.count("identity", state="changed") == 1  # told once, not at every try

    bob.send(cmd="trust", **{"with": "alice"}, fingerprint=new_key)
    trusted = bob.wait_event("identity", state="trusted")
    assert trusted == {
        "event": "identity",
        "with": "alice",
        "state": "trusted",
        "fingerprint": new_key,
    }
    bob.ask("whoami", {"cmd": "whoami"})  # the trust command's output is all out by now
    assert bob.count("identity", state="trusted") == 1

    for client, ids in ((bob, bob_ids), (alice, alice_ids)):
        for message_id in ids:
            client.wait_event("status", id=message_id, state="delivered", timeout=30)
    assert received(alice, "bob") == list(zip(bob_ids, from_bob, strict=True))
    assert received(bob, "alice") == [
        (hello_bob, "hello bob"),
        *zip(alice_ids, from_alice, strict=True),
    ]
    assert [(m["id"], m["body"], m["state"]) for m in bob.history("alice")] == [
        (hello_bob, "hello bob", "received"),
        (hello_alice, "hello alice", "delivered"),
        *((i, b, "delivered") for i, b in zip(bob_ids, from_bob, strict=True)),
        *((i, b, "received") for i, b in zip(alice_ids, from_alice, strict=True)),
    ]
    assert [(m["id"], m["body"]) for m in alice.history("bob")] == [
        *zip(alice_ids, from_alice, strict=True),
        *zip(bob_ids, from_bob, strict=True),
    ]  # the new folder: nothing of the old alice's


def test_a_registry_with_another_key_is_refused_until_its_key_is_given(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    first = RegistryProcess(data_dir=tmp_path / "registry-1")
    try:
        alice = start(clients, "alice", first, tmp_path / "a")  # pins the registry's key
        assert alice.quit() == 0
        assert first.stop() == 0
    finally:
        first.kill()
    second = RegistryProcess(port=first.port, data_dir=tmp_path / "registry-2")  # a new key
    try:
        assert second.fingerprint != first.fingerprint
        error = refused(launch(clients, "alice", second, tmp_path / "a"), "registry_key_changed")
        assert second.fingerprint in error["message"]
        # The environment's key is checked like the flag's.
        env = {"CHINWAG_REGISTRY_KEY": first.fingerprint}
        refused(launch(clients, "alice", second, tmp_path / "a", env=env), "registry_key_changed")

        alice = start(
            clients, "alice", second, tmp_path / "a", "--registry-key", second.fingerprint
        )
        assert alice.quit() == 0
        alice = start(clients, "alice", second, tmp_path / "a")  # the new key is pinned now
        assert alice.quit() == 0
    finally:
        second.kill()


def test_verify_shows_one_safety_number_on_both_sides_and_checks_the_one_typed(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    bob_key = bob.wait_event("ready")["fingerprint"]
    chat(alice, bob, "let us compare numbers")

    at_alice = alice.ask("safety_number", {"cmd": "verify", "with": "bob"})
    at_bob = bob.ask("safety_number", {"cmd": "verify", "with": "alice"})
    assert at_alice["number"] == at_bob["number"]
    assert SAFETY_NUMBER.fullmatch(at_alice["number"]), at_alice
    assert at_alice["fingerprint"] == bob_key
    assert at_alice["with"] == "bob" and at_alice["verified"] is False

    digits = at_alice["number"]
    wrong = digits[:-1] + ("1" if digits[-1] != "1" else "2")
    mismatch = bob.ask("safety_number", {"cmd": "verify", "with": "alice", "number": wrong})
    assert (mismatch["event"], mismatch["code"]) == ("error", "safety_number_mismatch")
    again = bob.ask("safety_number", {"cmd": "verify", "with": "alice"})
    assert again["verified"] is False  # nothing was changed

    typed = digits.replace(" ", "")  # as read aloud, without the spaces
    done = alice.ask("safety_number", {"cmd": "verify", "with": "bob", "number": typed})
    assert (done["event"], done["verified"], done["number"]) == ("safety_number", True, digits)
    assert alice.ask("safety_number", {"cmd": "verify", "with": "bob"})["verified"] is True

    unknown = alice.ask("safety_number", {"cmd": "verify", "with": "carol"})
    assert (unknown["event"], unknown["code"]) == ("error", "unknown_contact")


def test_known_contacts_are_reached_while_the_registry_is_down(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    carol = start(clients, "carol", registry, tmp_path / "c")
    chat(alice, bob, "hi bob")
    chat(alice, carol, "hi carol")
    # bob again, at the same address: alice's connection to him is gone, his address is not.
    listen = bob.wait_event("ready")["listen"]
    assert bob.quit() == 0
    mark = alice.mark()
    bob = start(clients, "bob", registry, tmp_path / "b", "--listen", listen)
    alice.wait_online("bob", since=mark)
    assert carol.quit() == 0
    alice.wait_for(lambda e: e.get("event") == "presence" and "carol" not in e["online"])

    mark = alice.mark()
    registry.kill()
    alice.wait_event("registry", status="reconnecting", since=mark)
    # bob: a new connection where he was last, proving the key pinned for him.
    chat(alice, bob, "no registry, still here")
    # carol: offline, so it waits.
    [to_carol] = send_all(alice, "carol", ["while everything was down"])
    alice.wait_event("status", id=to_carol, state="queued")

    restarted = RegistryProcess(port=registry.port, data_dir=registry.data_dir)
    try:
        assert restarted.fingerprint == registry.fingerprint
        alice.wait_event("registry", status="connected", since=mark, timeout=30)
        carol = start(clients, "carol", restarted, tmp_path / "c")
        alice.wait_event("status", id=to_carol, state="delivered", timeout=30)
        carol.wait_event("message", id=to_carol)
        assert [b for _, b in received(carol, "alice")] == ["while everything was down"]
        assert [b for _, b in received(bob, "alice")] == ["no registry, still here"]
        assert [m["body"] for m in bob.history("alice")] == ["hi bob", "no registry, still here"]
        assert [m["body"] for m in carol.history("alice")] == [
            "hi carol",
            "while everything was down",
        ]
    finally:
        restarted.kill()


def test_a_28_character_cjk_name_signs_in_and_chats(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    name = "山田花子の長い名前を持つ人が書いた日本語の文章と中国語汉字混合"[:28]
    assert len(name) == 28
    folder = user_folder(tmp_path / "cjk", name)
    assert len(folder.name.encode()) <= NAME_MAX

    cjk = start(clients, name, registry, tmp_path / "cjk")
    bob = start(clients, "bob", registry, tmp_path / "b")
    chat(cjk, bob, "你好 bob")
    chat(bob, cjk, "こんにちは")
    assert received(bob, name)[0][1] == "你好 bob"
    assert cjk.quit() == 0
    assert folder.is_dir() and (folder / "identity.key").is_file()

    cjk = start(clients, name, registry, tmp_path / "cjk")  # the same key and history again
    assert [m["body"] for m in cjk.history("bob")] == ["你好 bob", "こんにちは"]


def _modes(folder: Path) -> dict[str, str]:
    return {path.name: oct(stat.S_IMODE(os.lstat(path).st_mode)) for path in folder.iterdir()}


def test_the_user_folder_is_private_whatever_the_umask(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    data = tmp_path / "new" / "data"  # missing: made private too
    alice = start(clients, "alice", registry, data, umask=0)
    bob = start(clients, "bob", registry, tmp_path / "b")
    chat(alice, bob, "private")
    folder = user_folder(data, "alice")
    expected = {"identity.key", "history.sqlite3", "registries.json", "lock"}

    running = _modes(folder)
    assert expected <= set(running), running
    assert set(running.values()) == {"0o600"}, running  # -wal and -shm too
    assert alice.quit() == 0
    after = _modes(folder)
    assert expected <= set(after), after
    assert set(after.values()) == {"0o600"}, after
    assert oct(stat.S_IMODE(os.lstat(folder).st_mode)) == "0o700"
    assert oct(stat.S_IMODE(os.lstat(data).st_mode)) == "0o700"


def test_a_damaged_key_file_stops_the_client_in_one_line_and_is_left_alone(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    assert alice.quit() == 0
    key_file = user_folder(tmp_path / "a", "alice") / "identity.key"
    key_file.write_bytes(b"{not json")
    client = launch(clients, "alice", registry, tmp_path / "a")
    error = refused(client, "storage")
    assert str(key_file) in error["message"]
    assert not any("Traceback" in line for line in client.stderr_lines)
    assert key_file.read_bytes() == b"{not json"  # never replaced: that would be a new identity
