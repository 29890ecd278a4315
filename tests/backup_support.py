"""What the backup, restore and export tests share: ``chinwag-cli backup|restore`` run in this
process with the passphrase from the environment (a test that reaches the terminal prompt
fails), cheap scrypt parameters, and a folder's files with their bytes (what "nothing was
written" compares)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from chinwag.adapters.backup.archive import ScryptParameters
from chinwag.entrypoints import cli_backup

CHEAP: Final = ScryptParameters(log2_n=10, r=8, p=1)
"""Real scrypt, cheap enough for tests (the product's default costs about a quarter second)."""
PASS: Final = {"CHINWAG_BACKUP_PASSPHRASE": "a long backup passphrase"}


def no_terminal(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r} on the terminal")


def backup(*argv: str, environ: dict[str, str] = PASS) -> int:
    return cli_backup.main("backup", argv, environ=environ, ask=no_terminal, scrypt=CHEAP)


def restore(*argv: str, environ: dict[str, str] = PASS) -> int:
    return cli_backup.main("restore", argv, environ=environ, ask=no_terminal)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
