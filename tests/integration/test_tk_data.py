"""Backup, restore and export in the whole desktop app (issue 13): a real Tk window under Xvfb,
a real registry process, the real backup and export code. Only Tk's file dialogs and its
yes/no box are replaced, at their seam in ``tk_data``: the rest is driven as a person would.

alice's history with bob is imported first (as ``chinwag-cli import`` does); she signs in,
exports the conversation to an HTML page and backs up from the menu while signed in. A second
app on a fresh data folder restores the backup from the sign-in card (a wrong passphrase
first, then replacing what it restored, asked first) and signs in as alice: the same key, the
same history.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from chinwag.adapters.export.jsonl import message_fields
from chinwag.adapters.gui import tk_data
from chinwag.adapters.gui.tk_data import DataDialog
from chinwag.application.history_export import ExportedMessage
from chinwag.domain.conversation import direct_conversation_id
from chinwag.entrypoints import cli_export
from chinwag.entrypoints.gui import DesktopApp
from tests.gui_support import press, pump
from tests.history_fill import give_identity
from tests.integration.test_desktop_app import (
    desktop,
    no_errors_logged,
    open_conversation,
    sign_in,
)
from tests.processes import RegistryProcess

__all__ = ["no_errors_logged"]  # an autouse fixture: errors logged fail the test

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BODIES = ["hello alice", "hi bob, lunch at noon?", "<b>not bold</b> & fine"]
PASSPHRASE = "correct horse battery staple"


def seed_history(data_dir: Path, tmp_path: Path) -> None:
    """alice's conversation with bob, imported into her history before she first signs in."""
    conversation = str(direct_conversation_id("alice", "bob"))
    lines = []
    for n, body in enumerate(BODIES):
        sender, recipient = ("bob", "alice") if n % 2 == 0 else ("alice", "bob")
        exported = ExportedMessage(
            id=str(uuid4()),
            conversation_id=conversation,
            sender=sender,
            recipient=recipient,
            peer="bob",
            group_id=None,
            body=body,
            sent_at=T0 + timedelta(minutes=n),
            state="received" if sender == "bob" else "delivered",
        )
        lines.append(json.dumps(message_fields(exported)))
    source = tmp_path / "seed.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["--user", "alice", "--data-dir", str(data_dir), str(source)]
    give_identity(data_dir)  # as her first sign-in would (import needs her to exist)
    errors = io.StringIO()
    assert cli_export.main("import", args, errors) == 0, errors.getvalue()


def open_dialog(app: DesktopApp, entry: str) -> DataDialog:
    app.view.widgets.menu.invoke(entry)
    dialog = app.view.data_dialog
    pump(app.root, dialog.visible, what=f"the dialog of {entry}")
    return dialog


def fill(dialog: DataDialog, passphrase: str, again: str | None = None) -> None:
    for entry, text in ((dialog.passphrase, passphrase), (dialog.again, again)):
        entry.delete(0, "end")
        if text is not None:
            entry.insert(0, text)


def says(app: DesktopApp, dialog: DataDialog, start: str) -> str:
    pump(
        app.root,
        lambda: dialog.message().startswith(start),
        timeout=30,
        what=f"{start!r} in the dialog (it says {dialog.message()!r})",
    )
    return dialog.message()


def test_export_and_back_up_from_the_menu_then_restore_before_signing_in(
    display: str, registry: RegistryProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = (registry.host, registry.port)
    first, fresh, out = tmp_path / "first", tmp_path / "fresh", tmp_path / "out"
    out.mkdir()
    seed_history(first, tmp_path)
    page, backup = out / "bob.html", out / "alice.chinwag-backup"
    proposed: list[str] = []

    def pick_export(_parent: object, suggested: str) -> str:
        proposed.append(suggested)
        return str(page)

    monkeypatch.setattr(tk_data, "pick_export_file", pick_export)
    monkeypatch.setattr(tk_data, "pick_backup_to_write", lambda _parent, _suggested: str(backup))
    monkeypatch.setattr(tk_data, "pick_backup_to_read", lambda _parent: str(backup))
    answers: list[bool] = []
    told: list[tuple[str, str]] = []
    monkeypatch.setattr(tk_data, "tell", lambda _parent, *said: told.append(said))
    monkeypatch.setattr(tk_data, "confirm_replace", lambda _parent, _question: answers.pop(0))

    with desktop(display, address, first) as app:
        sign_in(app, "alice")
        pump(app.root, lambda: bool(app.view.own_key_text()), what="alice's key")
        key = app.view.own_key_text()

        # Export: nothing is open yet, so it only says to open a conversation.
        app.view.widgets.menu.invoke("Export conversation…")
        assert "Open a conversation first" in app.view.status_text()
        assert proposed == []
        open_conversation(app, "bob")
        pump(app.root, lambda: BODIES[-1] in app.view.conversation_text(), what="the history")
        app.view.widgets.menu.invoke("Export conversation…")
        pump(
            app.root,
            lambda: app.view.status_text().startswith("Exported 3 messages"),
            timeout=15,
            what=f"the export said done (the status says {app.view.status_text()!r})",
        )
        assert proposed == [str(Path.home() / f"chinwag-alice-bob-{date.today()}.html")]
        html = page.read_text(encoding="utf-8")
        assert html.index("hello alice") < html.index("lunch at noon?")
        assert "&lt;b&gt;not bold&lt;/b&gt; &amp; fine" in html and "<b>not bold" not in html
        assert os.stat(page).st_mode & 0o077 == 0

        # Back up, while signed in: a mismatch is refused first, then it is written.
        dialog = open_dialog(app, "Back up…")
        assert dialog.file.get().endswith(f"chinwag-alice-{date.today()}.chinwag-backup")
        assert str(dialog.passphrase.cget("show")) == "•"
        dialog.choose_button.invoke()
        assert dialog.file.get() == str(backup)
        fill(dialog, PASSPHRASE, PASSPHRASE + "!")
        press(dialog.again, "<Return>")
        assert dialog.message().startswith("The two passphrases differ")
        fill(dialog, PASSPHRASE, PASSPHRASE)
        dialog.button.invoke()
        done = says(app, dialog, "Backed up alice to")
        assert str(backup) in done and backup.stat().st_size > 0
        assert dialog.passphrase.get() == "" and dialog.again.get() == ""

        # Restoring is for before signing in: once signed in, the menu only says so.
        dialog.close_button.invoke()
        app.view.widgets.menu.invoke("Restore…")
        [(title, text)] = told
        assert title == "Restore from a backup" and "while you are signed in" in text
        assert not dialog.visible()

    with desktop(display, address, fresh) as app:
        widgets = app.view.widgets
        pump(app.root, widgets.username.winfo_ismapped, what="the sign-in card")
        restore = app.view.restore_button
        assert restore is not None
        restore.invoke()
        dialog = app.view.data_dialog
        pump(app.root, dialog.visible, what="the restore dialog")
        assert not dialog.again.winfo_ismapped()  # a restore asks the passphrase once
        dialog.choose_button.invoke()
        assert dialog.file.get() == str(backup)
        fill(dialog, "not the passphrase")
        dialog.button.invoke()
        assert says(app, dialog, "Nothing was restored: wrong passphrase")
        assert not (fresh / "alice").exists()

        fill(dialog, PASSPHRASE)
        dialog.button.invoke()
        assert key in says(app, dialog, "Restored alice, whose key is")
        assert widgets.username.get() == "alice"

        # Again: alice is here now, so replacing her is asked first; "no" keeps her.
        answers.extend([False, True])
        fill(dialog, PASSPHRASE)
        dialog.button.invoke()
        says(app, dialog, "Nothing was restored: the user here stays as is.")
        fill(dialog, PASSPHRASE)
        dialog.button.invoke()
        says(app, dialog, "Restored alice")
        assert answers == []
        dialog.close_button.invoke()

        sign_in(app, "alice")
        pump(app.root, lambda: bool(app.view.own_key_text()), what="alice's key")
        assert app.view.own_key_text() == key
        open_conversation(app, "bob")
        pump(app.root, lambda: BODIES[-1] in app.view.conversation_text(), what="the history")
        text = app.view.conversation_text()
        assert text.index(BODIES[0]) < text.index(BODIES[1]) < text.index(BODIES[2])
