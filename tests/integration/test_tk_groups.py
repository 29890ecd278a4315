"""Groups in the real Tk window under Xvfb: the list, the header, the members window, the group
dialog, membership lines and per-member delivery marks (driven through the view port, with a
recording listener); then the whole desktop app creating a group with two real
``chinwag-cli --json`` members and posting to it."""

from __future__ import annotations

import tkinter as tk
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from chinwag.adapters.gui.tk_group_dialog import Form
from chinwag.adapters.gui.tk_view import TkChatView
from chinwag.adapters.gui.view import GroupHeading, GroupRow, MemberRow, MessageRow, PersonRow
from chinwag.domain.message import MessageState
from tests.gui_support import pump, settle
from tests.integration.test_desktop_app import (
    desktop,
    find_and_open,
    no_errors_logged,
    sign_in,
    type_and_send,
)
from tests.integration.test_tk_view import BASE, RecordingListener, listener, main, root, view
from tests.processes import CliProcess, RegistryProcess

__all__ = ["listener", "main", "no_errors_logged", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)

GID = uuid.UUID(int=77)


def heading(name: str = "Trip", *, admin: bool = True, left: bool = False) -> GroupHeading:
    members = (
        MemberRow("alice", admin=True, online=True, me=True),
        MemberRow("bob", admin=False, online=True, can_remove=admin, can_make_admin=admin),
        MemberRow("carol", admin=False, online=False, can_remove=admin, can_make_admin=admin),
    )
    return GroupHeading(GID, name, "3 members: you (admin), bob and carol", members, admin, left)


def line(minutes: int, text: str) -> MessageRow:
    return MessageRow(
        id=uuid.uuid4(),
        sender="alice",
        body=text,
        sent_at=BASE + timedelta(minutes=minutes),
        outgoing=False,
        state=MessageState.RECEIVED,
        notice=True,
    )


def said(minutes: int, sender: str, text: str, **fields: Any) -> MessageRow:
    outgoing = sender == "alice"
    return MessageRow(
        id=uuid.uuid4(),
        sender=sender,
        body=text,
        sent_at=BASE + timedelta(minutes=minutes),
        outgoing=outgoing,
        state=MessageState.SENT if outgoing else MessageState.RECEIVED,
        **fields,
    )


def hover_mark(main: TkChatView, root: tk.Tk, message: UUID) -> None:
    t = main.widgets.messages
    t.see(f"s{message.hex}")
    settle(root)
    box = t.bbox(f"s{message.hex}")
    assert box is not None
    t.event_generate("<Motion>", x=5, y=5)
    settle(root)
    t.event_generate("<Motion>", x=box[0] + box[2] // 2, y=box[1] + box[3] // 2)


def test_a_group_in_the_list_opens_with_its_lines_marks_and_header(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.set_people([PersonRow("bob", True, 0), GroupRow(GID, "Trip " + "x" * 60, 3, 3)])
    settle(root)
    tree = main.widgets.people
    assert tree.get_children() == ("p:bob", f"g:{GID.hex}")
    text = tree.item(f"g:{GID.hex}", "text").strip()
    assert text.endswith("…") and len(text) == 40  # a 64-character name is cut, and says so
    assert tree.set(f"g:{GID.hex}", "unread") == "3"
    tree.selection_set(f"g:{GID.hex}")
    settle(root)
    assert listener.named("conversation_selected") == [(GID,)]

    mine = said(3, "alice", "count me in", tally="1/2", detail="Delivered to 1 of 2\n✓ carol")
    main.open_group(
        heading(),
        [
            line(1, "You created the group “Trip” with bob and carol"),
            said(2, "bob", "who's in?"),
            mine,
        ],
        more_before=False,
    )
    settle(root)
    assert main.widgets.header.cget("text") == "Trip"
    assert main.presence_text() == "3 members: you (admin), bob and carol"
    assert main.widgets.members_button.winfo_ismapped()
    assert not main.widgets.verify.winfo_ismapped()
    content = main.conversation_text()
    assert content.index("This is the start of the group “Trip”.") < content.index(
        "You created the group “Trip” with bob and carol"
    )
    assert content.index("with bob and carol") < content.index("who's in?")
    assert main.mark_of(mine.id) == "✓ 1/2"
    hover_mark(main, root, mine.id)
    pump(root, lambda: main.tooltip_text() == mine.detail, what="who has it, on hover")

    done = MessageRow(
        mine.id,
        "alice",
        mine.body,
        mine.sent_at,
        True,
        MessageState.DELIVERED,
        detail="Delivered to everyone",
    )
    main.update_message(done)
    main.append_messages([line(4, "You added dave")])
    settle(root)
    assert main.mark_of(mine.id) == "✓✓"
    assert main.delivery_detail(mine.id) == "Delivered to everyone"
    at = (BASE + timedelta(minutes=4)).astimezone()
    assert main.conversation_text().rstrip().endswith(f"You added dave  {at:%H:%M}")

    main.open_conversation("bob", [], more_before=False)  # a person again: Verify…, presence
    settle(root)
    assert main.widgets.verify.winfo_ismapped()
    assert not main.widgets.members_button.winfo_ismapped()
    assert main.presence_text() == "● online"


def test_the_members_window_offers_what_an_admin_may_do(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.set_people([PersonRow("bob", True, 0), PersonRow("dave", False, 0)])
    main.open_group(heading(), [], more_before=False)
    settle(root)
    main.widgets.members_button.invoke()
    members = main.widgets.members
    pump(root, members.visible, what="the members window")
    assert members.tree.get_children() == ("m:alice", "m:bob", "m:carol")
    assert members.tree.set("m:alice", "role") == "you, admin"
    members.select("alice")
    assert members.remove_button.instate(["disabled"])
    members.select("carol")
    members.admin_button.invoke()
    members.remove_button.invoke()
    assert listener.named("group_admin_requested") == [(GID, "carol")]
    assert listener.named("group_remove_requested") == [(GID, "carol")]

    members.add_button.invoke()  # the add dialog offers the people not in the group yet
    dialog = main.widgets.group_dialog
    pump(root, dialog.visible, what="the add dialog")
    assert (dialog.form, dialog.pick.get(0, "end")) == (Form.ADD, ("dave",))
    dialog.choose("dave")
    dialog.others.insert(0, "erin, frank")
    dialog.button.invoke()
    assert listener.named("group_add_requested") == [(GID, ["dave", "erin", "frank"])]
    main.set_group_dialog_busy(True)
    assert str(dialog.button.cget("text")) == "Adding…"
    main.show_group_dialog_error("Cannot add erin: nobody called erin has ever signed in")
    assert "nobody called erin" in dialog.error_text()
    main.close_group_dialog()
    settle(root)
    assert not dialog.visible()

    members.rename_button.invoke()
    assert (dialog.form, dialog.name.get()) == (Form.RENAME, "Trip")
    dialog.name.delete(0, "end")
    dialog.name.insert(0, "Lisbon")
    dialog.button.invoke()
    assert listener.named("group_rename_requested") == [(GID, "Lisbon")]
    members.leave_button.invoke()
    assert dialog.form == Form.LEAVE
    dialog.button.invoke()
    assert listener.named("group_leave_requested") == [(GID,)]

    main.show_group(heading(admin=False, left=True))  # left: the window follows, no actions
    settle(root)
    for button in (members.add_button, members.rename_button, members.leave_button):
        assert button.instate(["disabled"])
    main.open_conversation("bob", [], more_before=False)
    settle(root)
    assert not members.visible()


def test_new_group_from_the_menu_picks_people_of_the_list(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.set_people(
        [PersonRow("bob", True, 0), GroupRow(GID, "Trip", 0, 3), PersonRow("carol", False, 0)]
    )
    main.widgets.menu.invoke("New group…")
    dialog = main.widgets.group_dialog
    pump(root, dialog.visible, what="the new group dialog")
    assert dialog.form is Form.NEW
    assert dialog.pick.get(0, "end") == ("bob", "carol")
    dialog.name.insert(0, "Book club")
    dialog.choose("carol")
    dialog.others.insert(0, "dave")
    dialog.name.event_generate("<Return>")
    settle(root)
    assert listener.named("new_group_requested") == [("Book club", ["carol", "dave"])]


# -- the whole app, with two real members ------------------------------------------------------


@pytest.fixture
def members(tmp_path: Path, registry: RegistryProcess) -> Iterator[dict[str, CliProcess]]:
    started = {
        name: CliProcess(name, registry.address, tmp_path / name) for name in ("bob", "carol")
    }
    try:
        for name, process in started.items():
            process.wait_event("ready", user=name)
        yield started
    finally:
        for process in started.values():
            process.kill()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_create_a_group_post_and_see_every_members_delivery(
    display: str, registry: RegistryProcess, members: dict[str, CliProcess], tmp_path: Path
) -> None:
    bob, carol = members["bob"], members["carol"]
    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")
        view = app.view
        tree = view.widgets.people
        view.widgets.menu.invoke("New group…")
        dialog = view.widgets.group_dialog
        dialog.name.insert(0, "Lisbon trip")
        dialog.others.insert(0, "bob carol")  # online, not contacts yet: not in the list
        dialog.button.invoke()
        pump(app.root, lambda: view.widgets.header.cget("text") == "Lisbon trip", timeout=20)
        assert not dialog.visible()
        group = next(UUID(hex=i[2:]) for i in tree.get_children() if i.startswith("g:"))
        assert "You created the group “Lisbon trip” with bob and carol" in view.conversation_text()
        for member in (bob, carol):
            member.wait_event("group", id=str(group))

        type_and_send(app, "the flights are booked ✈")
        for member in (bob, carol):
            got = member.wait_event("message", body="the flights are booked ✈")
        sent = UUID(got["id"])
        pump(app.root, lambda: view.mark_of(sent) == "✓✓", timeout=20, what="delivered to both")
        assert view.delivery_detail(sent) == "Delivered to everyone"

        bob.send(cmd="send", group=str(group), body="great, thanks!")
        pump(app.root, lambda: "great, thanks!" in view.conversation_text(), timeout=20)
        assert tree.set(f"g:{group.hex}", "unread") == ""  # seen as it came

        find_and_open(app, "bob")  # the group is not open: what comes now is unread
        carol.send(cmd="send", group=str(group), body="see you at the airport")
        item = f"g:{group.hex}"
        pump(app.root, lambda: tree.set(item, "unread") == "1", timeout=20, what="unread 1")

    with desktop(display, (registry.host, registry.port), tmp_path / "alice") as app:
        sign_in(app, "alice")  # after a restart: listed first (its latest message), still unread
        tree = app.view.widgets.people
        pump(app.root, lambda: tree.exists(item) and tree.set(item, "unread") == "1", timeout=20)
        assert tree.get_children()[0] == item
        tree.selection_set(item)
        pump(app.root, lambda: "see you at the airport" in app.view.conversation_text())
        assert "You created the group “Lisbon trip”" in app.view.conversation_text()
        assert app.view.mark_of(sent) == "✓✓"  # the deliveries were stored
        pump(app.root, lambda: tree.set(item, "unread") == "", what="read once seen")
