"""The whole desktop app in a real Tk window under Xvfb, with a real registry process and a real
``chinwag-cli --json`` peer: what a person would do, checked on the screen and at the peer."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from chinwag.adapters.gui.notifier import Notifier, RecordingNotifier
from chinwag.entrypoints.gui import DesktopApp, answers
from chinwag.entrypoints.settings import ClientSettings
from tests.gui_support import press, pump
from tests.processes import CliProcess, RegistryProcess, release

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The pump logs (and survives) exceptions of the presenter and the view: fail on them."""
    with caplog.at_level(logging.ERROR, logger="chinwag"):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
def bob(tmp_path: Path, registry: RegistryProcess) -> Iterator[CliProcess]:
    process = CliProcess("bob", registry.address, tmp_path / "bob")
    process.wait_event("ready", user="bob")
    yield process
    process.kill()


@contextlib.contextmanager
def desktop(
    display: str, registry: tuple[str, int], data: Path, notifier: Notifier | None = None
) -> Iterator[DesktopApp]:
    root = tk.Tk(screenName=display, className="chinwag")
    settings = ClientSettings(
        user=None,
        registry=registry,
        data_dir=data,
        listen=("127.0.0.1", 0),
        log_level="WARNING",
    )
    app = DesktopApp(root, settings, notifier=notifier or RecordingNotifier())
    app.start()
    try:
        yield app
    finally:
        with contextlib.suppress(tk.TclError):
            app.presenter.close_requested()
            pump(root, lambda: not _alive(root), timeout=15, what="the window to close")
        app.shutdown()


def _alive(root: tk.Tk) -> bool:
    try:
        return bool(root.winfo_exists())
    except tk.TclError:
        return False


def sign_in(app: DesktopApp, name: str) -> None:
    widgets = app.view.widgets
    pump(app.root, lambda: widgets.username.winfo_ismapped(), what="the sign-in dialog")
    widgets.username.delete(0, "end")
    widgets.username.insert(0, name)
    press(widgets.username, "<Return>")
    pump(app.root, lambda: name in app.root.title(), timeout=15, what=f"signed in as {name}")


def people(app: DesktopApp) -> list[str]:
    tree = app.view.widgets.people
    return [tree.item(item, "text").strip().removeprefix("⚠ ") for item in tree.get_children()]


def open_conversation(app: DesktopApp, peer: str) -> None:
    """Open the conversation with ``peer``, listed (a contact, or a conversation)."""
    pump(app.root, lambda: peer in people(app), timeout=15, what=f"{peer} in the people list")
    app.view.widgets.people.selection_set(f"p:{peer}")
    pump(app.root, lambda: peer in app.view.widgets.header.cget("text"), what=f"{peer}'s pane")


def find_and_open(app: DesktopApp, peer: str, deadline: float = 15.0) -> None:
    """Start a chat with ``peer``, who is online but not listed (the list holds contacts and
    conversations only): Chat ▸ New chat…, type the start of their name, pick them in what the
    search finds and press Enter. Typed again until found: the registry may tell of ``peer``
    a moment after the test saw them sign in."""
    dialog = app.view.widgets.new_chat
    app.view.widgets.menu.invoke("New chat…")
    pump(app.root, dialog.visible, what="the new chat dialog")
    end = time.monotonic() + deadline
    while peer not in dialog.found():
        assert time.monotonic() < end, f"{peer} never found online: {dialog.note_text()}"
        dialog.entry.delete(0, "end")
        dialog.entry.insert(0, peer[:2])
        with contextlib.suppress(AssertionError):
            pump(app.root, lambda: peer in dialog.found(), timeout=1, what=f"{peer} found")
    dialog.results.selection_set(f"r:{peer}")
    press(dialog.results, "<Return>")
    header = app.view.widgets.header
    pump(app.root, lambda: peer in header.cget("text"), timeout=15, what=f"{peer}'s pane")
    assert not dialog.visible()
    assert peer in people(app)


def type_and_send(app: DesktopApp, text: str) -> None:
    entry = app.view.widgets.entry
    entry.insert("1.0", text)
    press(entry, "<Return>")


def test_sign_in_chat_both_ways_restart_and_search(
    display: str, registry: RegistryProcess, bob: CliProcess, tmp_path: Path
) -> None:
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        find_and_open(app, "bob")  # bob is online: the new chat dialog finds him
        bob.wait_online("alice")

        type_and_send(app, "hello bob 👋")
        got = bob.wait_event("message", body="hello bob 👋")
        sent = UUID(got["id"])
        pump(app.root, lambda: app.view.mark_of(sent) == "✓✓", timeout=15, what="delivered mark")
        assert app.view.widgets.entry.get("1.0", "end-1c") == ""

        bob.send(cmd="send", to="alice", body="hi alice, lunch at noon?")
        pump(
            app.root,
            lambda: "hi alice, lunch at noon?" in app.view.conversation_text(),
            timeout=15,
            what="bob's reply in the pane",
        )

    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        open_conversation(app, "bob")
        pump(app.root, lambda: "lunch at noon" in app.view.conversation_text(), what="history")
        text = app.view.conversation_text()
        assert text.index("hello bob 👋") < text.index("hi alice, lunch at noon?")

        search = app.view.widgets.search
        search.insert(0, "lunch")
        press(search, "<Return>")
        results = app.view.widgets.results
        pump(app.root, lambda: bool(results.get_children()), what="search results")
        [result] = results.get_children()
        results.focus(result)
        press(results, "<Return>")
        reply = next(e for e in bob.events if e.get("event") == "status")["id"]
        pump(
            app.root,
            lambda: app.view.highlighted_message() == UUID(reply),
            what="the result opened and highlighted",
        )


def test_a_key_change_is_shown_verified_against_the_peer_and_accepted_then_mail_flows(
    display: str, registry: RegistryProcess, bob: CliProcess, tmp_path: Path
) -> None:
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        view = app.view
        sign_in(app, "alice")
        pump(app.root, lambda: bool(view.own_key_text()), what="my key in the status bar")
        assert re.fullmatch(r"([a-z2-7]{4} ){12}[a-z2-7]{4}", view.own_key_text())
        find_and_open(app, "bob")
        type_and_send(app, "hello bob")
        bob.wait_event("message", body="hello bob")  # both sides have pinned the other now

        # bob sets chinwag up again: a new key, the name released for it at the registry.
        bob.quit()
        done = release(registry.data_dir, "bob")
        assert done.returncode == 0, done.stderr
        new_bob = CliProcess("bob", registry.address, tmp_path / "new-bob")
        try:
            ready = new_bob.wait_event("ready", user="bob")
            new_bob.wait_online("alice")

            type_and_send(app, "are you still there?")
            banner = view.widgets.banner
            pump(app.root, view.key_change_visible, timeout=15, what="the key-change banner")
            assert ready["fingerprint"] in banner.new.cget("text")
            assert "Nothing is sent to or accepted from bob" in banner.text.cget("text")
            assert "⚠ bob" in [
                view.widgets.people.item(i, "text").strip()
                for i in view.widgets.people.get_children()
            ]
            held = _id_of(app, "are you still there?")
            pump(app.root, lambda: view.mark_of(held) == "⟳", timeout=15, what="held")
            assert "bob's key changed" in (view.failure_reason(held) or "")

            # Verify…: the number of bob's new key; a wrong one changes nothing.
            banner.verify_button.invoke()
            dialog = view.widgets.verify_dialog
            pump(app.root, dialog.visible, timeout=15, what="the verify dialog")
            shown = str(dialog.number.cget("text"))
            assert [len(line.split()) for line in shown.splitlines()] == [4, 4, 4]
            assert dialog.key.get() == ready["fingerprint"]
            dialog.entry.insert(0, "12345 67890")
            dialog.mark_button.invoke()
            pump(app.root, lambda: bool(dialog.error_text()), timeout=15, what="a mismatch")
            assert "not the safety number" in dialog.error_text()
            assert view.key_change_visible()
            dialog.close_button.invoke()

            # Accept new key: the banner goes and the held message is delivered.
            banner.accept_button.invoke()
            pump(app.root, lambda: not view.key_change_visible(), timeout=15, what="accepted")
            new_bob.wait_event("message", body="are you still there?", timeout=30)
            pump(app.root, lambda: view.mark_of(held) == "✓✓", timeout=30, what="delivered")
            assert view.failure_reason(held) is None
            assert "bob" in people(app)
            # The number alice was shown is the one bob sees (he has pinned alice by now).
            theirs = new_bob.ask("safety_number", {"cmd": "verify", "with": "alice"})
            assert theirs["fingerprint"] == view.own_key_text()
            assert shown.split() == theirs["number"].split()
        finally:
            new_bob.kill()


def test_a_key_change_still_waiting_after_a_restart_is_shown_again(
    display: str, registry: RegistryProcess, bob: CliProcess, tmp_path: Path
) -> None:
    """The change is stored; the application tells it again once per run (it once did not)."""
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        find_and_open(app, "bob")
        type_and_send(app, "hello bob")
        bob.wait_event("message", body="hello bob")
        bob.quit()
        assert release(registry.data_dir, "bob").returncode == 0
        new_bob = CliProcess("bob", registry.address, tmp_path / "new-bob")
        try:
            new_bob.wait_event("ready", user="bob")
            type_and_send(app, "first")
            pump(app.root, app.view.key_change_visible, timeout=15, what="the banner")
        finally:
            new_bob.kill()
    new_bob = CliProcess("bob", registry.address, tmp_path / "new-bob")
    try:
        new_bob.wait_event("ready", user="bob")
        with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
            sign_in(app, "alice")
            open_conversation(app, "bob")
            type_and_send(app, "second")
            pump(app.root, lambda: "second" in app.view.conversation_text(), what="sent")
            second = _id_of(app, "second")
            # Held: the key was checked, and a change reported then would be shown by now.
            pump(app.root, lambda: app.view.mark_of(second) == "⟳", timeout=15, what="held")
            assert app.view.key_change_visible()
    finally:
        new_bob.kill()


def test_signing_out_with_a_peer_connected_logs_no_error(
    display: str,
    registry: RegistryProcess,
    bob: CliProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Closing the transport cancels its inbound handlers; on Python 3.11 asyncio logged a
    CancelledError for each (it once did)."""
    with (
        caplog.at_level(logging.ERROR, logger="asyncio"),
        desktop(display, (registry.host, registry.port), tmp_path / "alice") as app,
    ):
        sign_in(app, "alice")
        find_and_open(app, "bob")
        bob.send(cmd="send", to="alice", body="hi alice")  # bob connects to alice
        pump(app.root, lambda: "hi alice" in app.view.conversation_text(), timeout=15)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def _id_of(app: DesktopApp, body: str) -> UUID:
    """The id of our message ``body`` in the open conversation (from its history)."""
    found: list[UUID] = []

    async def look() -> None:
        session = app.presenter.usable_session()
        assert session is not None
        found.extend(m.id for m in await session.history("bob", 50, None) if m.body == body)

    app.network.submit(look()).result(10)
    [message_id] = found
    return message_id


def test_a_burst_of_5000_messages_all_appear_in_order(
    display: str, registry: RegistryProcess, tmp_path: Path
) -> None:
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        sender = CliProcess("carol", registry.address, tmp_path / "carol")
        try:
            sender.wait_online("alice")
            find_and_open(app, "carol")
            for n in range(5000):
                sender.send(cmd="send", to="alice", body=f"burst {n:04d}")
            pump(
                app.root,
                lambda: "burst 4999" in app.view.conversation_text(),
                timeout=150,
                what="all 5,000 messages",
            )
        finally:
            sender.kill()
        numbers = [int(n) for n in re.findall(r"burst (\d{4})", app.view.conversation_text())]
        assert numbers == list(range(5000))


def test_without_a_display_it_says_so_in_one_line_and_points_to_the_cli() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    done = subprocess.run(
        [sys.executable, "-m", "chinwag", "--user", "alice"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "no display" in line
    assert "chinwag-cli" in line


def test_with_no_registry_answering_the_app_starts_one_and_stops_it(
    display: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with desktop(display, ("127.0.0.1", port), tmp_path / "alice") as app:
        assert app.registry is not None
        assert answers("127.0.0.1", port)
        sign_in(app, "alice")
    assert not answers("127.0.0.1", port)


def unread_of(app: DesktopApp, peer: str) -> str:
    tree = app.view.widgets.people
    item = f"p:{peer}"
    return str(tree.set(item, "unread")) if tree.exists(item) else ""


def test_unread_counts_and_the_divider_survive_a_restart_until_read(
    display: str, registry: RegistryProcess, bob: CliProcess, tmp_path: Path
) -> None:
    address = (registry.host, registry.port)
    notifier = RecordingNotifier()
    with desktop(display, address, tmp_path / "alice", notifier) as app:
        sign_in(app, "alice")
        bob.wait_online("alice")
        app.presenter.focus_changed(False)  # the window is in the background
        for n in range(3):
            bob.send(cmd="send", to="alice", body=f"while you were away {n}")
        pump(app.root, lambda: unread_of(app, "bob") == "3", timeout=15, what="3 unread")
        assert app.root.title() == "(3) chinwag — alice"
        assert [(n.title, n.body) for n in notifier.shown] == [("bob", "while you were away 0")]

    with desktop(display, address, tmp_path / "alice") as app:
        sign_in(app, "alice")
        pump(app.root, lambda: unread_of(app, "bob") == "3", timeout=15, what="3 unread again")
        assert app.root.title() == "(3) chinwag — alice"
        app.presenter.focus_changed(True)  # the person is looking
        open_conversation(app, "bob")
        pump(app.root, lambda: app.view.divider_before() is not None, what="the divider")
        text = app.view.conversation_text()
        assert text.index("new messages") < text.index("while you were away 0")
        pump(app.root, lambda: unread_of(app, "bob") == "", what="read")
        assert app.root.title() == "chinwag — alice"
        # The marker is written before the next restart reads it: the runner keeps order.
        _id_of(app, "while you were away 0")

    with desktop(display, address, tmp_path / "alice") as app:
        sign_in(app, "alice")
        pump(app.root, lambda: "bob" in people(app), timeout=15, what="bob listed")
        assert unread_of(app, "bob") == ""
        assert app.root.title() == "chinwag — alice"


def test_a_new_chat_with_somebody_offline_is_listed_after_a_restart_without_a_message(
    display: str, registry: RegistryProcess, bob: CliProcess, tmp_path: Path
) -> None:
    bob.quit()  # known to the registry, offline now
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        app.view.widgets.menu.invoke("New chat…")
        dialog = app.view.widgets.new_chat
        pump(app.root, dialog.visible, what="the new chat dialog")
        dialog.entry.insert(0, "nobody-here")
        press(dialog.entry, "<Return>")
        pump(app.root, lambda: "nobody-here" in dialog.error_text(), timeout=15, what="refused")
        dialog.entry.delete(0, "end")
        dialog.entry.insert(0, "bob")
        press(dialog.entry, "<Return>")
        pump(app.root, lambda: "bob" in app.view.widgets.header.cget("text"), timeout=15)
        assert not dialog.visible()
        assert "bob is offline" in app.view.status_text()
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        pump(app.root, lambda: "bob" in people(app), timeout=15, what="bob listed")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_in_the_terminal_signs_out_and_closes_cleanly(
    display: str, registry: RegistryProcess, tmp_path: Path, signum: signal.Signals
) -> None:
    env = {**os.environ, "DISPLAY": display, "CHINWAG_NOTIFICATIONS": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chinwag",
            "--user",
            "alice",
            "--registry",
            registry.address,
            "--data-dir",
            str(tmp_path / "alice"),
            "--log-level",
            "INFO",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines: list[str] = []
        for line in process.stderr:  # the pipe ends if the app dies: no endless wait
            lines.append(line)
            if "signed in as alice" in line:
                break
        else:
            raise AssertionError(f"the app did not sign in: {''.join(lines)}")
        process.send_signal(signum)
        code = process.wait(timeout=20)
        rest = process.stderr.read()
    finally:
        process.kill()
        process.wait()
    assert code == 0, rest
    assert "Traceback" not in rest
    assert "KeyboardInterrupt" not in rest
    assert f"{signum.name}: closing" in rest
