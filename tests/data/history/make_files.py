# mypy: ignore-errors
# (This script runs against the chinwag of an OLD commit, whose API differs from today's: it is
# not type-checked against today's code. Ruff still checks it.)
"""Writes ``vN.sqlite`` and ``vN.json`` here with the chinwag code whose history schema was N.

Each history is written by that version's own repositories (SqliteMessageRepository and the
others, over its Database), as its client would: conversations saved, outgoing messages stored
``pending`` and then moved on by ``update_states``, received ones stored ``received``. ``vN.json``
is what that same old code read back afterwards: the expectations of
tests/integration/test_history_upgrades.py, which opens the file with today's code.

Regenerate every file (from the repository root; needs git and the project's venv)::

    .venv/bin/python tests/data/history/make_files.py --all

That checks out each commit of COMMITS as a throwaway ``git worktree`` in a temporary folder,
runs ``make_files.py --write N OUT`` there with ``PYTHONPATH`` on that worktree (so ``import
chinwag`` is the old code: the ``chinwag -> src`` symlink is in every commit), then removes the
worktree. ``--only N`` does one version. The JSON comes out the same on every run (ids, times,
keys from fixed seeds, Ed25519 signatures); the SQLite files too, up to the deliveries'
``updated_at`` (version 6 on), which the old code takes from the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from uuid import UUID

from old_history import OWNER, SEARCHED, Writer, write_history

HERE = Path(__file__).resolve().parent

COMMITS = {
    # version: the last commit whose schema was that version (the commit before the next
    # migration was added; before 8c8e7a1 the migrations lived in adapters/sqlite/database.py).
    1: "3d53d6d09a6a02c5198491e324ca5aa1c9725e53",
    2: "3f5b06dd9ad02d78a1d4dbd1b19974ebf238e367",
    3: "bc325ddbb1b4cb12127d9c3e9444b4483e503aa1",
    4: "ebc97a158a54558c489c02cbc68f4f648ac394bc",
    5: "27c1626459d06d2a78f2113a48225cc3d44d57f1",
    6: "20bf582bf515648b455eb7c5de458a0795a56bdb",
    7: "da676d186dd88eb7f1f21d68a69f248b0486e4ea",
    8: "fe81aa4a87f1adaed33ebd192ffb9d9d14103d5d",
}


def jsonable(value):
    """``value`` (a model dump, a dataclass, a tuple...) as JSON: bytes in hex, times ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return items if isinstance(value, list | tuple) else sorted(items)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    return value


# --- what the old code reads back: the expectations ------------------------------------------


def verify(key: bytes, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


async def read_back(writer: Writer, changes: list) -> dict:
    """Everything the history holds, as this (old) version's repositories read it."""
    version, db = writer.version, writer.db
    found: dict = {"version": version, "commit": COMMITS[version], "owner": OWNER}
    found["searched"] = {
        SEARCHED: [str(m.id) for m in await writer.messages.search(SEARCHED, 10)],
    }
    assert len(found["searched"][SEARCHED]) == 1, found["searched"]
    conversations = await writer.conversations.list_all()
    assert sorted(c.id for c in conversations) == sorted(writer.conversation_ids)
    found["conversations"] = [jsonable(c) for c in conversations]
    found["messages"] = []  # in the order stored
    for conversation in conversations:
        found["messages"] += [jsonable(m) for m in await writer.messages.page(conversation.id, 500)]
    with contextlib.closing(sqlite3.connect(db.path)) as raw:
        seqs = dict(raw.execute("SELECT id, seq FROM messages").fetchall())
    found["messages"].sort(key=lambda m: seqs[m["id"]])
    if version >= 6:
        found["deliveries"] = {
            m["id"]: [jsonable(d) for d in await writer.messages.deliveries(UUID(m["id"]))]
            for m in found["messages"]
            if m["state"] != "received"
        }
    if version >= 4:
        unread = await writer.conversations.unread()
        found["unread"] = {str(k): jsonable(v) for k, v in unread.items()}
    if version >= 3:
        from chinwag.adapters.sqlite.contacts import SqliteContactRepository

        found["contacts"] = [jsonable(c) for c in await SqliteContactRepository(db).list_all()]
    if version >= 5:
        found["groups"] = await read_groups(db, changes)
    if version >= 8:
        found["transfers"] = await read_transfers(db)
    return found


async def read_groups(db, changes: list) -> dict:
    from chinwag.adapters.sqlite.groups import SqliteGroupRepository
    from chinwag.domain.group_log import canonical

    groups = SqliteGroupRepository(db)
    found = {}
    for group in await groups.groups():
        stored = await groups.changes(group)
        assert stored == [c for c in changes if c.group == group]
        state, chain = canonical(stored, verify, group=group)
        found[str(group)] = {
            "changes": [c.hash().hex() for c in stored],
            "chain": [c.hash().hex() for c in chain],
            "name": state.name,
            "members": [m.name for m in state.members],
            "admins": sorted(state.admins),
            "version": state.version,
        }
    return found


async def read_transfers(db) -> dict:
    from chinwag.adapters.sqlite.transfers import SqliteTransferRepository

    transfers = SqliteTransferRepository(db)
    records = await transfers.listing()
    return {
        "records": [jsonable(t) for t in records],
        "hashes": {str(t.id): (await transfers.hashes(t.id) or b"").hex() for t in records},
        "pieces": {str(t.id): (await transfers.pieces(t.id)).hex() for t in records},
    }


async def fill(version: int, db) -> dict:
    writer, changes = await write_history(version, db)
    return await read_back(writer, changes)


# --- running it --------------------------------------------------------------------------------


def write(version: int, folder: Path) -> None:
    """Write ``vN.sqlite`` and ``vN.json`` into ``folder`` with the importable chinwag."""
    import chinwag
    from chinwag.adapters.sqlite.database import SCHEMA_VERSION, Database

    if version != SCHEMA_VERSION:
        sys.exit(f"{chinwag.__file__} writes schema {SCHEMA_VERSION}, not {version}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        with Database(path) as db:
            found = asyncio.run(fill(version, db))
        with contextlib.closing(sqlite3.connect(path)) as raw:  # the WAL merged at close?
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            assert raw.execute("PRAGMA user_version").fetchone() == (version,)
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for suffix in ("-wal", "-journal"):
            side = Path(f"{path}{suffix}")
            assert not side.exists() or side.stat().st_size == 0, side
        shutil.copyfile(path, folder / f"v{version}.sqlite")
    text = json.dumps(found, ensure_ascii=False, indent=1, sort_keys=True)
    (folder / f"v{version}.json").write_text(text + "\n", encoding="utf-8")
    print(f"v{version}: written by {chinwag.__file__} ({COMMITS[version][:7]})")


def write_all(versions: list[int]) -> None:
    """Each version in a throwaway worktree of its commit, removed afterwards."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=HERE, check=True)

    with tempfile.TemporaryDirectory(prefix="chinwag-history-") as tmp:
        for version in versions:
            tree = Path(tmp) / f"v{version}"
            git("worktree", "add", "--detach", str(tree), COMMITS[version])
            try:
                subprocess.run(
                    [sys.executable, __file__, "--write", str(version), str(HERE)],
                    env={**os.environ, "PYTHONPATH": str(tree)},
                    cwd=tree,
                    check=True,
                )
            finally:
                git("worktree", "remove", "--force", str(tree))
    git("worktree", "prune")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="every version of COMMITS")
    parser.add_argument("--only", type=int, choices=sorted(COMMITS), help="one version")
    parser.add_argument("--write", nargs=2, metavar=("N", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write(int(args.write[0]), Path(args.write[1]))
    elif args.all or args.only:
        write_all(sorted(COMMITS) if args.all else [args.only])
    else:
        parser.error("say --all or --only N")


if __name__ == "__main__":
    main()
