"""The fake session with groups and the app around it that the desktop app's group tests
share: a group and its log made with the domain's own rules (signatures are not checked), a
recording view, an immediate runner; no Tk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from chinwag.adapters.gui.notifier import RecordingNotifier
from chinwag.adapters.gui.presenter import ChatPresenter
from chinwag.adapters.gui.view import GroupHeading, GroupRow, MessageRow
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, replay
from chinwag.domain.message import GroupStamp, Message, MessageState
from tests.unit.test_presenter import T0, FakeSession, ImmediateRunner, RecordingView

# -- a group and its log, made with the domain's own rules (signatures are not checked here) --


def key(name: str) -> bytes:
    return name.encode().ljust(32, b".")


def create(
    name: str = "Trip", members: Sequence[str] = ("bob", "carol", "dave"), at: datetime = T0
) -> Change:
    return Change.create(
        author="alice", key=key("alice"), name=name, members={m: key(m) for m in members}, at=at
    )


def then(before: Change, kind: ChangeKind, author: str, minutes: int, **fields: Any) -> Change:
    if "member" in fields and kind is ChangeKind.ADD:
        fields["key"] = key(fields["member"])
    return Change(
        group=before.group,
        kind=kind,
        version=before.version + 1,
        prev=before.hash(),
        author=author,
        at=T0 + timedelta(minutes=minutes),
        **fields,
    )


def states(chain: list[Change]) -> GroupState:
    return replay(chain)[-1]


GENESIS = create()
GID = GENESIS.group


def posted(n: int, sender: str = "bob", group: UUID = GID, **fields: Any) -> Message:
    values: dict[str, Any] = {
        "id": UUID(int=n),
        "conversation_id": group,
        "group_id": group,
        "sender": sender,
        "stamp": GroupStamp(seq=n, version=0),
        "body": f"group message {n}",
        "sent_at": T0 + timedelta(minutes=n),
        "state": MessageState.PENDING if sender == "alice" else MessageState.RECEIVED,
    }
    return Message(**{**values, **fields})


@dataclass
class GroupSession(FakeSession):
    """A FakeSession whose alice is in the groups of ``logs`` (each its canonical chain)."""

    logs: dict[UUID, list[Change]] = field(default_factory=lambda: {GID: [GENESIS]})
    left: set[UUID] = field(default_factory=set)
    group_pages: dict[UUID, list[Message]] = field(default_factory=dict)
    delivered: dict[UUID, list[Delivery]] = field(default_factory=dict)
    unread_in_groups: dict[UUID, Unread] = field(default_factory=dict)
    chats: list[str | UUID] = field(default_factory=lambda: [GID])
    posts: list[tuple[UUID, str]] = field(default_factory=list)
    made: list[tuple[str, list[str]]] = field(default_factory=list)
    changes: list[tuple[str, UUID, str]] = field(default_factory=list)
    group_marks: list[tuple[UUID, UUID]] = field(default_factory=list)
    refuse: Exception | None = None
    """What every group change is refused with (None: they are done)."""

    async def conversations(self) -> list[str | UUID]:
        return list(self.chats)

    async def groups(self) -> list[tuple[GroupState, bool]]:
        return [(states(chain), gid in self.left) for gid, chain in self.logs.items()]

    async def group_log(self, group: UUID) -> list[Change]:
        return list(self.logs.get(group, []))

    async def group_history(self, group: UUID, limit: int, before: UUID | None) -> list[Message]:
        messages = self.group_pages.get(group, [])
        if before is not None:
            messages = messages[: [m.id for m in messages].index(before)]
        return messages[-limit:]

    async def deliveries(self, messages: Sequence[UUID]) -> dict[UUID, list[Delivery]]:
        return {m: self.delivered[m] for m in messages if m in self.delivered}

    async def group_unread(self) -> dict[UUID, Unread]:
        return dict(self.unread_in_groups)

    async def mark_group_read(self, group: UUID, upto: UUID) -> None:
        self.group_marks.append((group, upto))

    async def post(self, group: UUID, body: str) -> Message:
        self.posts.append((group, body))
        return posted(900 + len(self.posts), "alice", group, body=body)

    def _change(self, group: UUID, kind: ChangeKind, **fields: Any) -> GroupState:
        if self.refuse is not None:
            raise self.refuse
        chain = self.logs[group]
        chain.append(then(chain[-1], kind, "alice", 30 + len(chain), **fields))
        return states(chain)

    async def create_group(self, name: str, members: Sequence[str]) -> GroupState:
        if self.refuse is not None:
            raise self.refuse
        self.made.append((name, list(members)))
        genesis = create(name, members, T0 + timedelta(hours=1))
        self.logs[genesis.group] = [genesis]
        return states([genesis])

    async def add_member(self, group: UUID, member: str) -> GroupState:
        self.changes.append(("add", group, member))
        return self._change(group, ChangeKind.ADD, member=member)

    async def remove_member(self, group: UUID, member: str) -> GroupState:
        self.changes.append(("remove", group, member))
        return self._change(group, ChangeKind.REMOVE, member=member)

    async def make_admin(self, group: UUID, member: str) -> GroupState:
        self.changes.append(("admin", group, member))
        return self._change(group, ChangeKind.ADMIN, member=member)

    async def rename_group(self, group: UUID, name: str) -> GroupState:
        self.changes.append(("rename", group, name))
        return self._change(group, ChangeKind.RENAME, name=name)

    async def leave_group(self, group: UUID) -> None:
        self.changes.append(("leave", group, ""))
        if self.refuse is not None:
            raise self.refuse
        self.left.add(group)


@dataclass
class App:
    presenter: ChatPresenter
    view: RecordingView
    session: GroupSession
    notifier: RecordingNotifier


def app(session: GroupSession | None = None) -> App:
    session = session or GroupSession()
    view, notifier = RecordingView(), RecordingNotifier()
    presenter = ChatPresenter(
        ImmediateRunner(), lambda name, registry: session, "127.0.0.1:7420", notifier=notifier
    )
    presenter.attach(view)
    presenter.start("alice")
    presenter.focus_changed(True)
    return App(presenter, view, session, notifier)


def trip(unread: int = 0, members: int = 4, left: bool = False) -> GroupRow:
    return GroupRow(GID, "Trip", unread, members, left)


def opened(a: App) -> tuple[GroupHeading, list[MessageRow]]:
    heading, rows, _ = a.view.last("open_group")
    return heading, list(rows)
