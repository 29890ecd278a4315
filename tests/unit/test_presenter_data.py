"""The desktop app's backup, restore and export (issue 13), with the recording view: what each
dialog is asked to show, what is refused before any work runs, and the errors in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from chinwag.adapters.backup.archive import DamagedBackup, WrongPassphrase
from chinwag.adapters.backup.bundle import Manifest
from chinwag.adapters.backup.service import BackedUp, IdentityExists, RestoredUser
from chinwag.adapters.gui.presenter import ChatPresenter
from chinwag.adapters.gui.presenter_data import (
    NO_CONVERSATION,
    RESTORE_SIGNED_IN,
    DataPart,
    DataSession,
    file_part,
)
from chinwag.adapters.gui.view import Chat, DataForm, DataKind, StatusLevel
from chinwag.application.errors import RegistryUnavailable
from tests.unit.presenter_groups_support import GID, GroupSession, opened
from tests.unit.presenter_groups_support import app as group_app
from tests.unit.test_presenter import FakeSession, ImmediateRunner, RecordingView

HOME = Path("/home/alice")
TODAY = date(2026, 12, 1)
KEY = "abcd " * 12 + "abcd"


@dataclass
class DataFakeSession(FakeSession):
    """alice, whose backup and exports are written down instead of written."""

    backups: list[tuple[str, str]] = field(default_factory=list)
    exports: list[tuple[Chat, str]] = field(default_factory=list)
    refuse_backup: Exception | None = None
    refuse_export: Exception | None = None

    @property
    def user(self) -> str:
        return "alice"

    async def back_up(self, path: str, passphrase: str) -> BackedUp:
        self.backups.append((path, passphrase))
        if self.refuse_backup is not None:
            raise self.refuse_backup
        return BackedUp(Manifest("alice", "now", ("identity.key",)), Path(path), 123_456)

    async def export_chat(self, chat: Chat, path: str) -> int:
        self.exports.append((chat, path))
        if self.refuse_export is not None:
            raise self.refuse_export
        return 3


@dataclass
class DataGroupSession(GroupSession, DataFakeSession):
    """alice in the group "Trip", with the data methods."""


@dataclass
class FakeRestorer:
    """Restores into /data; ``taken`` users are there already, ``refuse`` fails every try."""

    taken: set[str] = field(default_factory=set)
    refuse: Exception | None = None
    asked: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return "/data"

    async def restore(self, path: str, passphrase: str, replace: bool) -> RestoredUser:
        self.asked.append((path, passphrase, replace))
        if self.refuse is not None:
            raise self.refuse
        if "alice" in self.taken and not replace:
            raise IdentityExists("alice", Path("/data"))
        return RestoredUser("alice", KEY, Path("/data/alice"))


def data_part(presenter: ChatPresenter, restorer: FakeRestorer | None = None) -> DataPart:
    return DataPart(
        presenter, ImmediateRunner(), restorer or FakeRestorer(), today=lambda: TODAY, home=HOME
    )


def signed_in(
    session: DataFakeSession | None = None,
) -> tuple[DataPart, RecordingView, DataFakeSession]:
    session = session or DataFakeSession()
    view = RecordingView()
    presenter = ChatPresenter(ImmediateRunner(), lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    return data_part(presenter), view, session


def signed_out(
    restorer: FakeRestorer,
) -> tuple[DataPart, RecordingView, ChatPresenter]:
    view = RecordingView()
    presenter = ChatPresenter(ImmediateRunner(), lambda n, r: DataFakeSession(), "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start(None)
    return data_part(presenter, restorer), view, presenter


def data_calls(view: RecordingView) -> list[tuple[str, tuple[object, ...]]]:
    """What the view was asked about the data dialog, in order."""
    kinds = {"show_data", "set_data_busy", "show_data_error", "show_data_done", "ask_replace"}
    return [(name, args) for name, args in view.calls if name in kinds]


# -- backup -----------------------------------------------------------------------------------


def test_back_up_opens_the_dialog_proposing_a_dated_file_in_the_home_folder() -> None:
    part, view, _ = signed_in()
    part.backup_requested()
    (form,) = view.last("show_data")
    assert form.kind is DataKind.BACKUP
    assert form.title == "Back up alice"
    assert form.path == "/home/alice/chinwag-alice-2026-12-01.chinwag-backup"
    assert "passphrase" in form.text


@pytest.mark.parametrize(
    ("path", "passphrase", "again", "said"),
    [
        ("/tmp/b", "", "", "Type a passphrase"),
        ("/tmp/b", "correct horse", "correct hose", "The two passphrases differ"),
        ("  ", "correct horse", "correct horse", "Choose the file"),
    ],
)
def test_a_backup_is_refused_before_any_work_without_a_passphrase_or_with_two_different_ones(
    path: str, passphrase: str, again: str, said: str
) -> None:
    part, view, session = signed_in()
    part.backup_requested()
    part.backup_submitted(path, passphrase, again)
    assert view.last("show_data_error")[0].startswith(said)
    assert session.backups == []
    assert view.named("set_data_busy") == []


def test_a_backup_runs_busy_then_says_where_and_how_big() -> None:
    part, view, session = signed_in()
    part.backup_requested()
    part.backup_submitted(" /tmp/alice.chinwag-backup ", "correct horse", "correct horse")
    assert session.backups == [("/tmp/alice.chinwag-backup", "correct horse")]
    assert data_calls(view)[1:] == [
        ("set_data_busy", ("Backing up…",)),
        ("set_data_busy", ("",)),
        (
            "show_data_done",
            (
                "Backed up alice to /tmp/alice.chinwag-backup (123.5 kB). Keep the passphrase: "
                "without it, the backup cannot be opened.",
            ),
        ),
    ]


def test_a_backup_that_cannot_be_written_says_why_and_stays_open_to_retry() -> None:
    session = DataFakeSession(
        refuse_backup=PermissionError(13, "Permission denied", "/root/alice.chinwag-backup")
    )
    part, view, _ = signed_in(session)
    part.backup_requested()
    part.backup_submitted("/root/alice.chinwag-backup", "pass", "pass")
    assert view.last("set_data_busy") == ("",)
    assert view.last("show_data_error") == (
        "The backup was not written: /root/alice.chinwag-backup: Permission denied.",
    )
    session.refuse_backup = None
    part.backup_submitted("/tmp/alice.chinwag-backup", "pass", "pass")
    assert view.last("show_data_done")[0].startswith("Backed up alice to /tmp/")


def test_a_backup_finished_after_its_dialog_closed_is_said_in_the_status_bar() -> None:
    runner = ImmediateRunner()
    session = DataFakeSession()
    view = RecordingView()
    presenter = ChatPresenter(runner, lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    part = DataPart(presenter, runner, None, today=lambda: TODAY, home=HOME)
    part.backup_requested()
    runner.park = True
    part.backup_submitted("/tmp/b", "pass", "pass")
    part.backup_submitted("/tmp/b", "pass", "pass")  # busy: ignored
    part.data_closed()
    runner.park = False
    runner.release()
    assert len(session.backups) == 1
    assert view.named("show_data_done") == []
    text, level = view.last("set_status")
    assert text.startswith("Backed up alice to /tmp/b") and level is StatusLevel.OK


def test_nothing_is_offered_before_signing_in_or_while_closing() -> None:
    part, view, _ = signed_out(FakeRestorer())
    part.backup_requested()
    part.export_requested("bob")
    assert view.named("show_data") == [] and view.named("choose_export_file") == []


# -- export -----------------------------------------------------------------------------------


def test_export_without_an_open_conversation_says_to_open_one() -> None:
    part, view, session = signed_in()
    part.export_requested(None)
    assert view.last("show_error") == (NO_CONVERSATION,)
    assert view.named("choose_export_file") == []
    part.export_chosen("/tmp/x.html")  # no conversation was being exported
    assert session.exports == []


def test_export_of_a_conversation_asks_for_a_file_then_says_how_many_were_written() -> None:
    part, view, session = signed_in()
    part.export_requested("bob")
    assert view.last("choose_export_file") == ("/home/alice/chinwag-alice-bob-2026-12-01.html",)
    part.export_chosen("/tmp/bob.txt")
    assert session.exports == [("bob", "/tmp/bob.txt")]
    statuses = [text for text, _ in view.named("set_status")]
    assert statuses[-2:] == [
        "Exporting the conversation with bob…",
        "Exported 3 messages of the conversation with bob to /tmp/bob.txt (text)",
    ]
    part.export_chosen("/tmp/again.html")  # one choice, one export
    assert len(session.exports) == 1


def test_export_of_a_group_is_named_after_the_group() -> None:
    a = group_app(DataGroupSession())
    a.presenter.conversation_selected(GID)
    opened(a)
    part = data_part(a.presenter)
    part.export_requested(GID)
    assert a.view.last("choose_export_file") == ("/home/alice/chinwag-alice-Trip-2026-12-01.html",)
    part.export_chosen("/tmp/trip.jsonl")
    session = a.session
    assert isinstance(session, DataGroupSession)
    assert session.exports == [(GID, "/tmp/trip.jsonl")]
    assert a.view.last("set_status")[0] == (
        "Exported 3 messages of the group “Trip” to /tmp/trip.jsonl (JSON lines)"
    )


def test_an_export_that_cannot_be_written_says_why() -> None:
    session = DataFakeSession(refuse_export=IsADirectoryError(21, "Is a directory", "/tmp"))
    part, view, _ = signed_in(session)
    part.export_requested("bob")
    part.export_chosen("/tmp")
    assert view.last("show_error") == (
        "Could not export the conversation with bob: /tmp: Is a directory",
    )


def test_a_file_name_part_keeps_no_separator_or_leading_dot() -> None:
    assert file_part("../etc/passwd") == "etc-passwd"
    assert file_part("Trip to Oslo ✈") == "Trip-to-Oslo"
    assert file_part("...") == "chat"


def test_the_desktop_session_offers_the_users_data() -> None:
    assert isinstance(DataFakeSession(), DataSession)
    assert not isinstance(FakeSession(), DataSession)


# -- restore ----------------------------------------------------------------------------------


def test_restore_before_signing_in_opens_the_dialog_naming_the_data_folder() -> None:
    part, view, _ = signed_out(FakeRestorer())
    part.restore_requested()
    (form,) = view.last("show_data")
    assert form == DataForm(DataKind.RESTORE, "Restore from a backup", form.text, "")
    assert "(/data)" in form.text


@pytest.mark.parametrize(
    ("path", "passphrase", "said"),
    [("", "pass", "Choose the backup file"), ("/b", "", "Type the passphrase")],
)
def test_a_restore_without_a_file_or_passphrase_is_refused_before_any_work(
    path: str, passphrase: str, said: str
) -> None:
    restorer = FakeRestorer()
    part, view, _ = signed_out(restorer)
    part.restore_requested()
    part.restore_submitted(path, passphrase)
    assert view.last("show_data_error")[0].startswith(said)
    assert restorer.asked == []


def test_a_restore_fills_the_sign_in_name_and_says_whose_key_came_back() -> None:
    restorer = FakeRestorer()
    part, view, _ = signed_out(restorer)
    part.restore_requested()
    part.restore_submitted(" /b.chinwag-backup ", "pass")
    assert restorer.asked == [("/b.chinwag-backup", "pass", False)]
    assert view.last("set_sign_in_name") == ("alice",)
    assert view.last("show_data_done") == (
        f"Restored alice, whose key is {KEY}. Sign in as alice to go on where the backup was made.",
    )
    assert [args for name, args in data_calls(view) if name == "set_data_busy"] == [
        ("Restoring…",),
        ("",),
    ]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            WrongPassphrase("wrong passphrase (or the file's header was altered)"),
            "Nothing was restored: wrong passphrase (or the file's header was altered).",
        ),
        (
            DamagedBackup("the file is cut short"),
            "Nothing was restored: the file is cut short.",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "/gone"),
            "Nothing was restored: /gone: No such file or directory.",
        ),
    ],
)
def test_a_restore_that_fails_says_why_and_can_be_tried_again(error: Exception, said: str) -> None:
    restorer = FakeRestorer(refuse=error)
    part, view, _ = signed_out(restorer)
    part.restore_requested()
    part.restore_submitted("/b", "wrong")
    assert view.last("show_data_error") == (said,)
    assert view.named("set_sign_in_name") == []
    restorer.refuse = None
    part.restore_submitted("/b", "right")
    assert view.last("set_sign_in_name") == ("alice",)


def test_replacing_an_identity_is_asked_first_and_done_only_on_yes() -> None:
    restorer = FakeRestorer(taken={"alice"})
    part, view, _ = signed_out(restorer)
    part.restore_requested()
    part.restore_submitted("/b", "pass")
    (question,) = view.last("ask_replace")
    assert question.startswith("alice already has an identity in this data folder.")
    assert "cannot be undone" in question
    assert view.named("set_sign_in_name") == []

    part.replace_answered(False)
    assert restorer.asked == [("/b", "pass", False)]
    assert view.last("show_data_error") == ("Nothing was restored: the user here stays as is.",)
    part.replace_answered(True)  # no question is open any more
    assert len(restorer.asked) == 1

    part.restore_submitted("/b", "pass")
    part.replace_answered(True)
    assert restorer.asked[1:] == [("/b", "pass", False), ("/b", "pass", True)]
    assert view.last("set_sign_in_name") == ("alice",)


def test_restore_once_signed_in_only_says_it_needs_a_restart() -> None:
    part, view, _ = signed_in()
    part.restore_requested()
    assert view.last("show_notice") == ("Restore from a backup", RESTORE_SIGNED_IN)
    assert view.named("show_data") == []


def test_restore_once_signed_in_says_how_to_get_the_sign_in_card_even_when_started_named() -> None:
    # With --user, CHINWAG_USER or NAME=… make run the app signs in at once: no sign-in card.
    said = RESTORE_SIGNED_IN
    assert "without a user name" in said and "“chinwag” alone" in said
    assert all(way in said for way in ("--user", "CHINWAG_USER", "make run"))
    assert "chinwag-cli restore" in said


def test_a_restore_submitted_after_signing_in_is_refused() -> None:
    restorer = FakeRestorer()
    session = DataFakeSession()
    view = RecordingView()
    presenter = ChatPresenter(ImmediateRunner(), lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start(None)
    part = data_part(presenter, restorer)
    part.restore_requested()
    presenter.sign_in_requested("alice", "127.0.0.1:7420")  # the dialog was left open
    part.restore_submitted("/b", "pass")
    assert restorer.asked == []
    assert "while you are signed in" in view.last("show_data_error")[0]


def test_a_failed_sign_in_leaves_restore_available() -> None:
    restorer = FakeRestorer()
    session = DataFakeSession(refuse_sign_in=RegistryUnavailable("the registry is down"))
    view = RecordingView()
    presenter = ChatPresenter(ImmediateRunner(), lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    part = data_part(presenter, restorer)
    part.restore_requested()
    assert view.last("show_data")[0].kind is DataKind.RESTORE
