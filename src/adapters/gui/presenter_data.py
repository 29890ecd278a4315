"""The presenter's part for the user's data: backing up, restoring and exporting. No Tk.

It implements the view's :class:`~chinwag.adapters.gui.view.DataListener`. A backup is made
of the signed-in user while the app runs (the history through SQLite's online backup, as
``chinwag-cli backup`` does: the same code, :mod:`chinwag.adapters.backup.service`); exporting
writes the open conversation (as ``chinwag-cli export --with``/``--group`` does). Restoring
replaces an identity and its history, which cannot happen under a signed-in client: it is
offered on the sign-in card, and once signed in it only says so. The work runs through the
:class:`Runner`, off the Tk thread; a second request while one runs is ignored.

Passphrases are checked here (not empty, typed the same twice) and kept only while a restore
may still need them (the person is asked whether to replace an identity, then it runs again).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable
from uuid import UUID

from chinwag.adapters.backup.archive import WrongPassphrase
from chinwag.adapters.backup.service import BackedUp, IdentityExists, RestoredUser
from chinwag.adapters.export.to_file import format_of
from chinwag.adapters.gui.file_words import human_size
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_status import sentence
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import Chat, DataForm, DataKind, GroupHeading, StatusLevel

BACKUP_SUFFIX = ".chinwag-backup"
"""The ending proposed for a backup file (any name works)."""
FORMAT_WORDS = {"html": "HTML", "txt": "text", "jsonl": "JSON lines"}

RESTORE_SIGNED_IN = (
    "Restoring replaces an identity and its history, which cannot happen while you are "
    "signed in. Quit chinwag and start it again without a user name (“chinwag” alone: no "
    "--user, no CHINWAG_USER, no NAME=… with make run), so that it shows the sign-in card, "
    "and choose “Restore from backup…” under “Sign in”. Or, with chinwag closed, run "
    "“chinwag-cli restore FILE”."
)
NO_CONVERSATION = "Open a conversation first: Export conversation… writes the open one to a file."


class DataHost(PresenterHost, Protocol):
    def heading(self, group: UUID) -> GroupHeading:
        """An open group's name and members (its name names the export)."""
        ...


@runtime_checkable
class DataSession(Protocol):
    """What a signed-in session offers for its user's data (the desktop app's does)."""

    @property
    def user(self) -> str: ...

    async def back_up(self, path: str, passphrase: str) -> BackedUp:
        """Write the user's backup to ``path`` while signed in."""
        ...

    async def export_chat(self, chat: Chat, path: str) -> int:
        """Write one conversation to ``path`` in the format its ending names; how many
        messages were written."""
        ...


class Restorer(Protocol):
    """Restores a backup into the app's data folder (before anybody signs in)."""

    @property
    def where(self) -> str:
        """The data folder, as the person may know it."""
        ...

    async def restore(self, path: str, passphrase: str, replace: bool) -> RestoredUser:
        """:class:`IdentityExists` if the user is there and not ``replace``."""
        ...


def reason(exc: Exception) -> str:
    """Why something failed, in words (a file's name and what the system said of it)."""
    if isinstance(exc, WrongPassphrase):
        return "wrong passphrase (or the file's header was altered)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def file_part(name: str) -> str:
    """``name`` as part of a file name: no separators, no spaces, nothing hidden."""
    cleaned = re.sub(r"[^\w.-]+", "-", name).strip("-.")
    return cleaned[:40] or "chat"


class DataPart:
    """Backup, restore and export for the window (the view's ``DataListener``).

    ``restorer`` is None where nothing can be restored (the dialog is then not offered);
    ``today`` and ``home`` make the proposed file names (tests give their own)."""

    def __init__(
        self,
        host: DataHost,
        runner: Runner,
        restorer: Restorer | None = None,
        *,
        today: Callable[[], date] = date.today,
        home: Path | None = None,
    ) -> None:
        self._host = host
        self._runner = runner
        self._restorer = restorer
        self._today = today
        self._home = home
        self._busy = ""
        """What runs ("Backing up…"), or ""."""
        self._open = False
        self._pending: tuple[str, str] | None = None
        """The restore asked for (file, passphrase) while the person is asked to replace."""
        self._export: tuple[Chat, str] | None = None
        """The conversation (and its words) whose file is being chosen."""

    # -- backup -----------------------------------------------------------------------------------

    def backup_requested(self) -> None:
        session = self._session()
        if session is None:
            return
        user = session.user
        name = f"chinwag-{file_part(user)}-{self._today().isoformat()}{BACKUP_SUFFIX}"
        text = (
            "One encrypted file with your identity key and your whole history, written while "
            "you chat. The passphrase is all that protects your key: choose a long one, and "
            "keep it, as without it the backup cannot be opened."
        )
        self._show(DataForm(DataKind.BACKUP, f"Back up {user}", text, self._in_home(name)))

    def backup_submitted(self, path: str, passphrase: str, again: str) -> None:
        session = self._session()
        if session is None or self._busy:
            return
        path = path.strip()
        if not path:
            problem = "Choose the file to write the backup to."
        elif not passphrase:
            problem = "Type a passphrase: it is all that protects the key in the backup."
        elif passphrase != again:
            problem = (
                "The two passphrases differ: type the same one twice, so that a typo does "
                "not lock you out of your backup."
            )
        else:
            problem = ""
        if problem:
            self._host.view.show_data_error(problem)
            return
        user = session.user
        self._set_busy("Backing up…")
        self._runner.run(
            lambda: session.back_up(path, passphrase),
            lambda done: self._backed_up(user, done),
            lambda exc: self._failed(f"The backup was not written: {reason(exc)}."),
        )

    def _backed_up(self, user: str, done: BackedUp) -> None:
        self._finished(
            f"Backed up {user} to {done.path} ({human_size(done.size)}). Keep the passphrase: "
            "without it, the backup cannot be opened."
        )

    # -- restore ----------------------------------------------------------------------------------

    def restore_requested(self) -> None:
        if self._host.closing:
            return
        if self._host.usable_session() is not None:
            self._host.view.show_notice("Restore from a backup", RESTORE_SIGNED_IN)
            return
        if self._restorer is None:
            return
        text = (
            f"Brings a user back into this app's data folder ({self._restorer.where}): the "
            "same name, the same key (your contacts see no change) and the same history."
        )
        self._show(DataForm(DataKind.RESTORE, "Restore from a backup", text, ""))

    def restore_submitted(self, path: str, passphrase: str) -> None:
        if self._host.closing or self._busy or self._restorer is None:
            return
        if self._host.usable_session() is not None:
            self._host.view.show_data_error(sentence(RESTORE_SIGNED_IN))
            return
        path = path.strip()
        if not path:
            self._host.view.show_data_error("Choose the backup file to restore.")
        elif not passphrase:
            self._host.view.show_data_error("Type the passphrase the backup was written with.")
        else:
            self._pending = (path, passphrase)
            self._restore(replace=False)

    def replace_answered(self, replace: bool) -> None:
        if self._pending is None or self._host.closing:
            return
        if replace:
            self._restore(replace=True)
        else:
            self._pending = None
            self._host.view.show_data_error("Nothing was restored: the user here stays as is.")

    def _restore(self, *, replace: bool) -> None:
        restorer, pending = self._restorer, self._pending
        assert restorer is not None and pending is not None
        path, passphrase = pending
        self._set_busy("Restoring…")
        self._runner.run(
            lambda: restorer.restore(path, passphrase, replace),
            self._restored,
            lambda exc: self._restore_failed(exc, replace),
        )

    def _restored(self, restored: RestoredUser) -> None:
        self._pending = None
        if self._host.closing:
            return
        self._host.view.set_sign_in_name(restored.user)
        self._finished(
            f"Restored {restored.user}, whose key is {restored.fingerprint}. Sign in as "
            f"{restored.user} to go on where the backup was made."
        )

    def _restore_failed(self, exc: Exception, replace: bool) -> None:
        if isinstance(exc, IdentityExists) and not replace and not self._host.closing:
            self._set_busy("")
            self._host.view.ask_replace(
                f"{exc.user} already has an identity in this data folder. Restoring replaces "
                f"it, and all of {exc.user}'s history here, with the backup's. This cannot be "
                "undone.\n\nReplace it?"
            )
            return
        self._pending = None
        self._failed(f"Nothing was restored: {reason(exc)}.")

    # -- export -----------------------------------------------------------------------------------

    def export_requested(self, chat: Chat | None) -> None:
        session = self._session()
        if session is None:
            return
        if chat is None:
            self._host.view.show_error(NO_CONVERSATION)
            return
        if isinstance(chat, UUID):
            name = self._host.heading(chat).name
            what = f"the group “{name}”"
        else:
            name = chat
            what = f"the conversation with {chat}"
        self._export = (chat, what)
        stem = f"chinwag-{file_part(session.user)}-{file_part(name)}-{self._today().isoformat()}"
        self._host.view.choose_export_file(self._in_home(f"{stem}.html"))

    def export_chosen(self, path: str) -> None:
        session = self._session()
        chosen, self._export = self._export, None
        if session is None or chosen is None or not path.strip():
            return
        chat, what = chosen
        words = FORMAT_WORDS[format_of(path)]
        self._host.view.set_status(f"Exporting {what}…", StatusLevel.OK)
        self._runner.run(
            lambda: session.export_chat(chat, path),
            lambda count: self._exported(count, what, path, words),
            lambda exc: self._export_failed(exc, what),
        )

    def _exported(self, count: int, what: str, path: str, words: str) -> None:
        if not self._host.closing:
            noun = "message" if count == 1 else "messages"
            text = f"Exported {count:,} {noun} of {what} to {path} ({words})"
            self._host.view.set_status(text, StatusLevel.OK)

    def _export_failed(self, exc: Exception, what: str) -> None:
        if not self._host.closing:
            self._host.view.show_error(f"Could not export {what}: {reason(exc)}")

    # -- the dialog -------------------------------------------------------------------------------

    def data_closed(self) -> None:
        self._open = False
        if not self._busy:
            self._pending = None

    def _show(self, form: DataForm) -> None:
        self._open = True
        self._host.view.show_data(form)
        if self._busy:  # reopened while the work still runs
            self._host.view.set_data_busy(self._busy)

    def _set_busy(self, text: str) -> None:
        self._busy = text
        self._host.view.set_data_busy(text)

    def _finished(self, text: str) -> None:
        if self._host.closing:
            return
        self._set_busy("")
        if self._open:
            self._host.view.show_data_done(text)
        else:  # closed meanwhile: said in the status bar instead
            self._host.view.set_status(text, StatusLevel.OK)

    def _failed(self, text: str) -> None:
        if self._host.closing:
            return
        self._set_busy("")
        if self._open:
            self._host.view.show_data_error(text)
        else:
            self._host.view.show_error(text)

    def _session(self) -> DataSession | None:
        """The signed-in session, if it offers the user's data (and the window stays)."""
        if self._host.closing:
            return None
        session = self._host.usable_session()
        return session if isinstance(session, DataSession) else None

    def _in_home(self, name: str) -> str:
        return str((self._home or Path.home()) / name)
