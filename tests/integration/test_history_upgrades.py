"""Upgrades keep your history (issue 13): a history file that an older chinwag wrote opens with
today's code, migrated, with everything in it.

tests/data/history/vN.sqlite was written by the code of the last commit whose schema was
version N, through its own repositories; vN.json is what that code read back from it (see
tests/data/history/README.md and make_files.py). Each test opens a copy as the client does
(``open_database`` of the container) and compares what today's repositories read with what the
old code read. Messages keep every field they had; fields the old schema lacked read back as
their defaults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import shutil
import sqlite3
from collections.abc import Coroutine, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.adapters.sqlite.contacts import SqliteContactRepository
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import SCHEMA_VERSION, Database
from chinwag.adapters.sqlite.groups import SqliteGroupRepository
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.adapters.sqlite.transfers import SqliteTransferRepository
from chinwag.application.ports import StateChange
from chinwag.domain.conversation import Conversation
from chinwag.domain.group_log import canonical
from chinwag.domain.message import Message, MessageState
from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState
from chinwag.entrypoints.container import open_database

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")

DATA = Path(__file__).resolve().parents[1] / "data" / "history"
VERSIONS = sorted(int(path.stem[1:]) for path in DATA.glob("v*.sqlite"))

NEW_FIELDS: dict[str, object] = {"received_at": None, "group_id": None, "stamp": None, "file": None}
"""What a message of an older schema reads back as, for the fields its schema did not have."""
UNACKNOWLEDGED = {"pending", "queued", "sent"}
T1 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

Found = dict[str, Any]
"""What vN.json holds: what the old code read back from vN.sqlite."""


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def jsonable(value: object) -> Any:
    """``value`` as vN.json holds it (the same rules as make_files.jsonable): model dumps and
    dataclasses as objects, bytes in hex, times in ISO 8601, enums and UUIDs as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        value = dump()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    return value


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as raw:
        (version,) = raw.execute("PRAGMA user_version").fetchone()
    return int(version)


def schema_of(path: Path) -> dict[tuple[str, str], str | None]:
    """Every table, index, trigger and view of the file, its SQL with whitespace collapsed."""
    with closing(sqlite3.connect(path)) as raw:
        rows = raw.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return {
        (kind, name): None if sql is None else " ".join(sql.split()) for kind, name, sql in rows
    }


@dataclasses.dataclass
class History:
    """A copy of one old file, what the old code found in it, and today's repositories."""

    version: int
    path: Path
    found: Found

    @contextmanager
    def opened(self) -> Iterator[Repositories]:
        """The file opened as the client opens it: migrated on the way in."""
        with contextmanager(open_database)(self.path, "FULL") as db:
            yield Repositories(db)

    def messages(self) -> list[Found]:
        """The old messages in the order stored, as today's code should read them."""
        return [{**NEW_FIELDS, **message} for message in self.found["messages"]]


class Repositories:
    def __init__(self, db: Database) -> None:
        self.messages = SqliteMessageRepository(db)
        self.conversations = SqliteConversationRepository(db)
        self.contacts = SqliteContactRepository(db)
        self.groups = SqliteGroupRepository(db)
        self.transfers = SqliteTransferRepository(db)


@pytest.fixture(params=VERSIONS, ids=[f"v{version}" for version in VERSIONS])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> History:
    version: int = request.param
    path = tmp_path / "data" / "history.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(DATA / f"v{version}.sqlite", path)
    found = json.loads((DATA / f"v{version}.json").read_text(encoding="utf-8"))
    assert (found["version"], user_version(path)) == (version, version)
    return History(version, path, found)


# --- the files are there -----------------------------------------------------------------------


def test_every_older_schema_has_a_history_file_its_own_code_wrote() -> None:
    missing = [
        f"v{version}.sqlite/.json"
        for version in range(1, SCHEMA_VERSION)
        if not (DATA / f"v{version}.sqlite").is_file() or not (DATA / f"v{version}.json").is_file()
    ]
    assert not missing, (
        f"tests/data/history lacks {', '.join(missing)}. Every schema version below today's "
        f"({SCHEMA_VERSION}) needs a history file written by the code of the last commit with "
        "that schema, so that its migrations are tested on a real old file: whoever adds a "
        "migration first writes the current version's file with the code of before it (add "
        "the commit to COMMITS in tests/data/history/make_files.py, teach it what the version "
        "stores, run make_files.py --only N, see tests/data/history/README.md)"
    )
    assert VERSIONS[0] == 1 and VERSIONS[-1] <= SCHEMA_VERSION, VERSIONS


# --- what the old code wrote is all there ------------------------------------------------------


def test_the_file_is_migrated_to_the_schema_a_new_file_gets(
    history: History, tmp_path: Path
) -> None:
    with history.opened():
        pass
    fresh = tmp_path / "fresh" / "history.sqlite3"
    with contextmanager(open_database)(fresh, "FULL"):
        pass
    assert user_version(history.path) == SCHEMA_VERSION
    assert schema_of(history.path) == schema_of(fresh)
    with closing(sqlite3.connect(history.path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        # The search index matches the messages (rank 1: checks the content table too).
        raw.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")


def test_every_old_message_reads_back_as_it_was_in_its_conversation(history: History) -> None:
    expected = history.messages()

    async def scenario(stores: Repositories) -> None:
        for message in expected:
            stored = await stores.messages.get(UUID(message["id"]))
            assert stored is not None, message
            assert jsonable(stored) == message
        conversations = await stores.conversations.list_all()
        assert jsonable(conversations) == history.found["conversations"]
        for conversation in conversations:
            page = await stores.messages.page(conversation.id, 500)
            assert [str(m.id) for m in reversed(page)] == [
                m["id"] for m in expected if m["conversation_id"] == str(conversation.id)
            ]

    with history.opened() as stores:
        run(scenario(stores))
    assert {m["state"] for m in expected} >= {"received", "pending", "sent", "delivered"}


def test_search_finds_the_old_bodies(history: History) -> None:
    polish = [m["id"] for m in reversed(history.messages()) if "Kraków" in m["body"]]

    async def scenario(stores: Repositories) -> None:
        for word, ids in history.found["searched"].items():
            assert [str(m.id) for m in await stores.messages.search(word, 10)] == ids
        assert [str(m.id) for m in await stores.messages.search("krakow", 10)] == polish

    assert polish
    with history.opened() as stores:
        run(scenario(stores))


def test_deliveries_and_the_outbox_survive(history: History) -> None:
    """Before migration 6 a message's own state was its one delivery: migration 6 makes it."""
    outgoing = [m for m in history.messages() if m["state"] != "received"]
    deliveries: dict[str, list[Found]] = history.found.get("deliveries") or {
        m["id"]: [
            {"message_id": m["id"], "recipient": m["recipient"]}
            | {"state": m["state"], "reason": m["reason"]}
        ]
        for m in outgoing
    }
    outbox = sorted(
        (d["message_id"], d["recipient"], d["state"])
        for found in deliveries.values()
        for d in found
        if d["state"] in UNACKNOWLEDGED
    )

    async def scenario(stores: Repositories) -> None:
        for message in history.messages():
            found = jsonable(await stores.messages.deliveries(UUID(message["id"])))
            assert found == deliveries.get(message["id"], []), message
        entries = await stores.messages.pending_deliveries(history.found["owner"])
        assert sorted((str(e.message.id), e.recipient, e.message.state) for e in entries) == outbox

    assert outbox and set(deliveries) == {m["id"] for m in outgoing}
    with history.opened() as stores:
        run(scenario(stores))


def test_read_markers_and_contacts_survive(history: History) -> None:
    """Without read markers (before migration 4) the whole old history counts as read."""

    async def scenario(stores: Repositories) -> None:
        unread = {str(k): jsonable(v) for k, v in (await stores.conversations.unread()).items()}
        assert unread == history.found.get("unread", {})
        contacts = jsonable(await stores.contacts.list_all())
        assert contacts == history.found.get("contacts", [])

    if history.version >= 4:
        assert history.found["unread"], "the file should hold unread messages"
    if history.version >= 3:
        assert len(history.found["contacts"]) == 3
    with history.opened() as stores:
        run(scenario(stores))


def test_groups_survive_with_their_signed_log_and_messages(history: History) -> None:
    groups: dict[str, Found] = history.found.get("groups", {})

    async def scenario(stores: Repositories) -> None:
        assert sorted(str(g) for g in await stores.groups.groups()) == sorted(groups)
        for group_id, group in groups.items():
            changes = await stores.groups.changes(UUID(group_id))
            assert [c.hash().hex() for c in changes] == group["changes"]
            state, chain = canonical(
                changes, IdentitySignatures(LocalKeys.generate()).verify, group=UUID(group_id)
            )
            assert [c.hash().hex() for c in chain] == group["chain"]
            assert state.name == group["name"] and state.version == group["version"]
            assert [m.name for m in state.members] == group["members"]
            assert sorted(state.admins) == group["admins"]
            stamped = [m for m in history.messages() if m["group_id"] == group_id]
            progress = {m["sender"]: m["stamp"]["seq"] for m in stamped}
            assert await stores.messages.group_progress(UUID(group_id)) == progress

    if history.version >= 5:
        assert groups, "the file should hold a group"
    with history.opened() as stores:
        run(scenario(stores))


def test_file_transfers_survive(history: History) -> None:
    transfers: Found = history.found.get("transfers", {"records": [], "hashes": {}})

    async def scenario(stores: Repositories) -> None:
        assert jsonable(await stores.transfers.listing()) == transfers["records"]
        for transfer_id, hashes in transfers["hashes"].items():
            assert (await stores.transfers.hashes(UUID(transfer_id)) or b"").hex() == hashes
            pieces = await stores.transfers.pieces(UUID(transfer_id))
            assert pieces.hex() == transfers["pieces"][transfer_id]

    if history.version >= 8:
        assert len(transfers["records"]) == 2
    with history.opened() as stores:
        run(scenario(stores))


# --- and the history goes on -------------------------------------------------------------------


def new_messages(owner: str) -> tuple[Message, Message]:
    bob = Conversation.direct(owner, "bob")
    heard = Message(
        id=UUID(int=1),
        conversation_id=bob.id,
        sender="bob",
        recipient=owner,
        body="after the upgrade: quokka 🦘",
        sent_at=T1,
        state=MessageState.RECEIVED,
        received_at=T1,
    )
    offer = FileOffer(
        name="upgrade.txt", size=3, sha256=bytes(32), piece_size=512 * 1024, root=bytes(32)
    )
    said = heard.model_copy(
        update={"id": UUID(int=2), "sender": owner, "recipient": "bob", "received_at": None}
    ).model_copy(update={"state": MessageState.PENDING, "body": "📎 upgrade.txt", "file": offer})
    return heard, said


def test_new_messages_and_transfers_are_added_after_the_upgrade(history: History) -> None:
    owner = history.found["owner"]
    heard, said = new_messages(owner)
    assert said.file is not None
    record = Transfer(
        id=said.id,
        direction=Direction.OUT,
        peer="bob",
        conversation_id=said.conversation_id,
        offer=said.file,
        state=TransferState.OFFERED,
        created_at=T1,
        updated_at=T1,
    )
    old_ids = [
        m["id"] for m in history.messages() if m["conversation_id"] == str(heard.conversation_id)
    ]

    async def add(stores: Repositories) -> None:
        assert await stores.transfers.add(record)
        assert await stores.messages.add([heard, said]) == [heard, said]
        await stores.messages.update_states([StateChange(said.id, MessageState.QUEUED)])
        await stores.conversations.mark_read(heard.conversation_id, heard.id)

    async def check(stores: Repositories) -> None:
        page = await stores.messages.page(heard.conversation_id, 500)
        assert [str(m.id) for m in reversed(page)] == [*old_ids, str(heard.id), str(said.id)]
        assert [m.id for m in await stores.messages.search("quokka", 10)] == [heard.id]
        assert heard.conversation_id not in await stores.conversations.unread()
        outbox = await stores.messages.pending_deliveries(owner)
        assert (said.id, "bob", MessageState.QUEUED) in {
            (e.message.id, e.recipient, e.message.state) for e in outbox
        }
        assert await stores.transfers.get(said.id, "bob") == record

    with history.opened() as stores:
        run(add(stores))
    with history.opened() as stores:  # and once more: nothing is migrated twice
        run(check(stores))
    assert user_version(history.path) == SCHEMA_VERSION
