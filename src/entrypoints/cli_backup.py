"""``chinwag-cli backup`` and ``chinwag-cli restore``: a user's identity and history in one
encrypted file, and back (the format: :mod:`chinwag.adapters.backup.archive`).

Every failure is one line on stderr and exit code 2; restore then has written nothing.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from chinwag.adapters.backup.archive import BackupError, ScryptParameters
from chinwag.adapters.backup.folder import UserFiles
from chinwag.adapters.backup.service import (
    IdentityExists,
    back_up_user,
    check_backup_file,
    restore_user,
)
from chinwag.adapters.console import INPUT_HISTORY_FILE
from chinwag.adapters.gui.preferences import PREFERENCES_FILE
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import normalize_username
from chinwag.entrypoints.common import StartupError, flag_error
from chinwag.entrypoints.settings import (
    HISTORY_FILE,
    KEYS_FILE,
    LOCK_FILE,
    PINS_FILE,
    ClientSettings,
    default_data_dir,
    lock_user_folder,
)

PASSPHRASE_ENV = "CHINWAG_BACKUP_PASSPHRASE"
USER_FILES = UserFiles(
    keys=KEYS_FILE,
    database=HISTORY_FILE,
    others=(PINS_FILE, PREFERENCES_FILE, INPUT_HISTORY_FILE),
    kept=(LOCK_FILE,),
)
"""What makes a user them: keys, history, pinned registry keys, preferences, typed lines (not
the lock, nor SQLite's side files: the snapshot is whole without them)."""

Ask = Callable[[str], str]


class _Refused(Exception):
    """A reason to stop, said in one line."""


class NoTerminal(Exception):
    """There is no terminal to ask a passphrase on without showing it."""


def ask_on_terminal(prompt: str) -> str:
    """A passphrase typed on the terminal, not echoed; :class:`NoTerminal` where there is no
    terminal (getpass would then read it from stdin, echoed, after a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise NoTerminal from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(flag_error(message, self.prog))


def _parser(command: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"chinwag-cli {command}")
    if command == "backup":
        parser.description = "Write your identity and history into one encrypted file."
        parser.add_argument("--user", help="whose folder to back up (env CHINWAG_USER)")
        parser.add_argument("file", metavar="FILE", type=Path, help="the backup file to write")
    else:
        parser.description = "Bring back a user's identity and history from a backup file."
        parser.add_argument("file", metavar="FILE", type=Path, help="the backup file to read")
        parser.add_argument(
            "--force", action="store_true", help="replace an identity already in the data folder"
        )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        help=f"the data folder (env CHINWAG_DATA_DIR, default: {default_data_dir()})",
    )
    parser.add_argument(
        "--passphrase-file",
        metavar="FILE",
        type=Path,
        help=f"read the passphrase from the first line of FILE (or set {PASSPHRASE_ENV}); "
        "otherwise it is asked on the terminal",
    )
    return parser


def main(
    command: str,
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] = os.environ,
    ask: Ask = ask_on_terminal,
    scrypt: ScryptParameters | None = None,
) -> int:
    """Run ``chinwag-cli backup|restore`` with ``argv`` (after the command); the exit code.

    ``ask`` reads a passphrase without echo; ``scrypt`` is for tests (cheaper key derivation).
    """
    prog = f"chinwag-cli {command}"
    try:
        args = _parser(command).parse_args(argv)
        data_dir = _data_dir(args.data_dir, environ)
        if command == "backup":
            return _backup(args, data_dir, environ, ask, scrypt)
        return _restore(args, data_dir, environ, ask)
    except (_Refused, BackupError, StartupError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"{prog}: {_os_reason(exc)}", file=sys.stderr)
    except sqlite3.Error as exc:
        print(f"{prog}: the history cannot be read: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was written", file=sys.stderr)
    except Exception as exc:  # a bug: still one line, never a traceback
        print(f"{prog}: failed ({type(exc).__name__}: {exc})", file=sys.stderr)
    return 2


def _data_dir(flag: Path | None, environ: Mapping[str, str]) -> Path:
    """The data folder, absolute (a relative one is taken from the current folder)."""
    if flag is not None:
        return flag.expanduser().absolute()
    text = environ.get("CHINWAG_DATA_DIR")
    return (Path(text).expanduser() if text else default_data_dir()).absolute()


def _settings(data_dir: Path, user: str) -> ClientSettings:
    """Settings only for :meth:`ClientSettings.user_dir` (which keeps an older folder name)."""
    return ClientSettings(
        user=user, registry=("127.0.0.1", 0), data_dir=data_dir, listen=None, log_level="WARNING"
    )


def _backup(
    args: argparse.Namespace,
    data_dir: Path,
    environ: Mapping[str, str],
    ask: Ask,
    scrypt: ScryptParameters | None,
) -> int:
    raw = args.user if args.user is not None else environ.get("CHINWAG_USER")
    if not raw:
        raise _Refused("--user NAME is required (or set CHINWAG_USER)")
    try:
        user = normalize_username(raw)
    except InvalidUsername as exc:
        raise _Refused(str(exc)) from None
    folder = _settings(data_dir, user).user_dir(user)
    if not (folder / KEYS_FILE).exists():
        raise _Refused(f"there is no identity for {user} in {data_dir}")
    passphrase = read_passphrase(args.passphrase_file, environ, ask, confirm=True)
    done = back_up_user(folder, user, Path(args.file), passphrase, USER_FILES, scrypt=scrypt)
    print(f"backed up {user} ({', '.join(done.manifest.files)}) to {done.path}")
    return 0


def _restore(args: argparse.Namespace, data_dir: Path, environ: Mapping[str, str], ask: Ask) -> int:
    backup = check_backup_file(Path(args.file))
    passphrase = read_passphrase(args.passphrase_file, environ, ask, confirm=False)
    try:
        restored = restore_user(
            backup,
            passphrase,
            data_dir,
            USER_FILES,
            lambda user: _settings(data_dir, user).user_dir(user),
            lock_user_folder,
            replace=args.force,
        )
    except IdentityExists as exc:
        raise _Refused(f"{exc}: give --force to do so") from None
    print(f"restored {restored.user} (key {restored.fingerprint}) into {restored.folder}")
    return 0


def read_passphrase(
    file: Path | None, environ: Mapping[str, str], ask: Ask, *, confirm: bool
) -> str:
    """From ``--passphrase-file`` (its first line), else the environment, else asked (twice
    when making a backup, so a typo does not lock the user out of it)."""
    if file is not None:
        try:
            text = file.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _Refused(f"cannot read the passphrase file {file}: {exc}") from None
        passphrase = text.splitlines()[0] if text else ""
        source = f"the passphrase file {file}"
    elif environ.get(PASSPHRASE_ENV):
        passphrase, source = environ[PASSPHRASE_ENV], PASSPHRASE_ENV
    else:
        return _ask_passphrase(ask, confirm=confirm)
    if not passphrase:
        raise _Refused(f"{source} is empty; nothing was written")
    return passphrase


def _ask_passphrase(ask: Ask, *, confirm: bool) -> str:
    """Asked on the terminal; an empty one is refused at once (not asked for again)."""
    try:
        passphrase = ask("Backup passphrase: ")
        if not passphrase:
            raise _Refused("the passphrase is empty; nothing was written")
        if confirm and ask("The same passphrase again: ") != passphrase:
            raise _Refused("the two passphrases differ; nothing was written")
    except NoTerminal:
        raise _Refused(
            f"no terminal to ask the passphrase on: give --passphrase-file FILE or set "
            f"{PASSPHRASE_ENV}; nothing was written"
        ) from None
    except EOFError:
        raise _Refused(
            f"no passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV}; "
            "nothing was written"
        ) from None
    return passphrase


def _os_reason(exc: OSError) -> str:
    if exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else 2)
