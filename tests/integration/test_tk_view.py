"""The real Tk window (:class:`TkChatView`) on a private X server, driven like a person would."""

from __future__ import annotations

import contextlib
import gc
import time
import tkinter as tk
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from tkinter import ttk
from types import TracebackType
from typing import Any

import pytest

from chinwag.adapters.gui.tk_view import TkChatView
from chinwag.adapters.gui.view import (
    KeyChangeNotice,
    MessageRow,
    PersonRow,
    SafetyNumberView,
    SearchResultRow,
    StatusLevel,
)
from chinwag.domain.message import MessageState
from tests.gui_support import centre_of, press, pump, settle

pytestmark = pytest.mark.timeout(60)

BASE = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


class RecordingListener:
    """A :class:`ViewListener` that writes down every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]

    def sign_in_requested(self, username: str, registry: str) -> None:
        self.calls.append(("sign_in_requested", (username, registry)))

    def conversation_selected(self, peer: str | uuid.UUID) -> None:
        self.calls.append(("conversation_selected", (peer,)))

    def send_requested(self, text: str) -> None:
        self.calls.append(("send_requested", (text,)))

    def older_requested(self) -> None:
        self.calls.append(("older_requested", ()))

    def search_requested(self, text: str) -> None:
        self.calls.append(("search_requested", (text,)))

    def search_result_selected(self, result: SearchResultRow) -> None:
        self.calls.append(("search_result_selected", (result,)))

    def verify_requested(self, peer: str) -> None:
        self.calls.append(("verify_requested", (peer,)))

    def mark_verified_requested(self, peer: str, number: str) -> None:
        self.calls.append(("mark_verified_requested", (peer, number)))

    def verify_closed(self, peer: str) -> None:
        self.calls.append(("verify_closed", (peer,)))

    def accept_key_requested(self, peer: str) -> None:
        self.calls.append(("accept_key_requested", (peer,)))

    def close_requested(self) -> None:
        self.calls.append(("close_requested", ()))

    def new_chat_requested(self, name: str) -> None:
        self.calls.append(("new_chat_requested", (name,)))

    def new_chat_search_requested(self, text: str) -> None:
        self.calls.append(("new_chat_search_requested", (text,)))

    def next_conversation_requested(self, step: int) -> None:
        self.calls.append(("next_conversation_requested", (step,)))

    def bottom_reached(self) -> None:
        self.calls.append(("bottom_reached", ()))

    def focus_changed(self, focused: bool) -> None:
        self.calls.append(("focus_changed", (focused,)))

    def notifications_toggled(self, enabled: bool) -> None:
        self.calls.append(("notifications_toggled", (enabled,)))

    def doctor_requested(self) -> None:
        self.calls.append(("doctor_requested", ()))

    def doctor_closed(self) -> None:
        self.calls.append(("doctor_closed", ()))

    def new_group_requested(self, name: str, members: Sequence[str]) -> None:
        self.calls.append(("new_group_requested", (name, list(members))))

    def group_add_requested(self, group: uuid.UUID, names: Sequence[str]) -> None:
        self.calls.append(("group_add_requested", (group, list(names))))

    def group_remove_requested(self, group: uuid.UUID, member: str) -> None:
        self.calls.append(("group_remove_requested", (group, member)))

    def group_admin_requested(self, group: uuid.UUID, member: str) -> None:
        self.calls.append(("group_admin_requested", (group, member)))

    def group_rename_requested(self, group: uuid.UUID, name: str) -> None:
        self.calls.append(("group_rename_requested", (group, name)))

    def group_leave_requested(self, group: uuid.UUID) -> None:
        self.calls.append(("group_leave_requested", (group,)))


@pytest.fixture
def root(display: str) -> Iterator[tk.Tk]:
    root = tk.Tk(screenName=display)
    errors: list[BaseException] = []

    # An exception in a Tk callback is only printed by default: make it fail the test.
    def record(
        kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        errors.append(error)

    root.report_callback_exception = record
    yield root
    with contextlib.suppress(tk.TclError):
        root.destroy()
    # Tk variables and images delete themselves in Tcl when collected, which only works on this
    # thread: collect what the test left now, not in some later test's thread.
    gc.collect()
    assert not errors, f"a Tk callback raised: {errors!r}"


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


@pytest.fixture
def view(root: tk.Tk, listener: RecordingListener) -> TkChatView:
    view = TkChatView(root, listener)
    pump(root, root.winfo_viewable, what="the window to be mapped")
    return view


@pytest.fixture
def main(view: TkChatView, root: tk.Tk) -> TkChatView:
    """The view after signing in, showing the main window."""
    view.show_main("alice")
    pump(root, view.widgets.messages.winfo_viewable, what="the main window")
    settle(root)
    return view


def row(
    n: int,
    *,
    outgoing: bool = False,
    state: MessageState | None = None,
    body: str | None = None,
    reason: str | None = None,
    minutes: int | None = None,
) -> MessageRow:
    return MessageRow(
        id=uuid.uuid4(),
        sender="alice" if outgoing else "bob",
        body=f"message {n}" if body is None else body,
        sent_at=BASE + timedelta(minutes=n if minutes is None else minutes),
        outgoing=outgoing,
        state=state or (MessageState.DELIVERED if outgoing else MessageState.RECEIVED),
        reason=reason,
    )


def rows(start: int, stop: int) -> list[MessageRow]:
    return [row(n, outgoing=n % 3 == 0) for n in range(start, stop)]


def assert_in_order(text: str, bodies: Sequence[str]) -> None:
    position = -1
    for body in bodies:
        found = text.find(f"\n{body}\n", position + 1)
        assert found > position, f"{body!r} missing or out of order"
        position = found


# -- signing in --------------------------------------------------------------------------------


def test_the_sign_in_dialog_is_prefilled_and_submits_username_and_registry(
    view: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    view.show_sign_in("alice", "127.0.0.1:7420")
    settle(root)
    w = view.widgets
    assert (w.username.get(), w.registry.get()) == ("alice", "127.0.0.1:7420")
    assert root.title() == "chinwag — sign in"

    press(w.username, "<Return>")
    assert listener.named("sign_in_requested") == [("alice", "127.0.0.1:7420")]

    w.username.delete(0, "end")
    w.username.insert(0, "bob")
    w.registry.delete(0, "end")
    w.registry.insert(0, "chat.example:7000")
    w.sign_in_button.invoke()
    assert listener.named("sign_in_requested")[-1] == ("bob", "chat.example:7000")


def test_a_busy_sign_in_cannot_be_submitted_again(
    view: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    view.show_sign_in("alice", "127.0.0.1:7420")
    view.set_sign_in_busy(True)
    settle(root)
    button = view.widgets.sign_in_button
    assert button.cget("text") == "Signing in…"
    assert button.instate(["disabled"])
    press(view.widgets.username, "<Return>")
    button.invoke()
    assert listener.named("sign_in_requested") == []

    view.set_sign_in_busy(False)
    assert button.cget("text") == "Sign in"
    assert not button.instate(["disabled"])


def test_a_sign_in_error_is_shown_wrapped_in_the_dialog(view: TkChatView, root: tk.Tk) -> None:
    view.show_sign_in("alice", "127.0.0.1:7420")
    settle(root)
    label = view.widgets.sign_in_error
    assert not label.winfo_ismapped()
    text = "The registry at 127.0.0.1:7420 did not answer: connection refused. " * 3
    view.show_sign_in_error(text)
    pump(root, label.winfo_ismapped, what="the error label")
    assert label.cget("text") == text
    assert int(str(label.cget("wraplength"))) > 0
    assert label.winfo_width() < 500  # wrapped, not one endless line
    assert view.widgets.username.winfo_ismapped()  # the dialog stays open


def test_show_main_replaces_the_dialog_with_the_main_window(view: TkChatView, root: tk.Tk) -> None:
    view.show_sign_in("alice", "127.0.0.1:7420")
    settle(root)
    view.show_main("alice")
    pump(root, view.widgets.messages.winfo_ismapped, what="the main window")
    assert root.title() == "chinwag — alice"
    assert not view.widgets.username.winfo_ismapped()
    assert view.widgets.entry.winfo_ismapped()
    assert view.widgets.search.winfo_ismapped()


# -- people ------------------------------------------------------------------------------------


def test_people_show_names_presence_and_unread_and_selecting_one_opens_it(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.set_people(
        [PersonRow("bob", True, 0), PersonRow("carol", True, 3), PersonRow("dave", False, 0)]
    )
    settle(root)
    tree = main.widgets.people
    items = tree.get_children()
    assert [tree.item(i, "text").strip() for i in items] == ["bob", "carol", "dave"]
    assert [tree.set(i, "unread") for i in items] == ["", "3", ""]
    assert tree.tag_has("unread", items[1])
    online = tree.item(items[0], "image")
    assert online == tree.item(items[1], "image") != tree.item(items[2], "image")

    # The list is replaced in place: new order, one gone, one new, counts updated.
    main.set_people(
        [PersonRow("dave", True, 1), PersonRow("bob", True, 0), PersonRow("erin", True, 0)]
    )
    settle(root)
    items = tree.get_children()
    assert [tree.item(i, "text").strip() for i in items] == ["dave", "bob", "erin"]
    assert tree.set(items[0], "unread") == "1"

    x, y = centre_of(tree, items[1])
    tree.event_generate("<Button-1>", x=x, y=y)
    tree.event_generate("<ButtonRelease-1>", x=x, y=y)
    pump(root, lambda: bool(listener.named("conversation_selected")), what="a selection")
    assert listener.named("conversation_selected") == [("bob",)]

    # Opening the conversation selects it without reporting it again.
    main.open_conversation("dave", [], more_before=False)
    settle(root)
    assert tree.selection() == (items[0],)
    assert listener.named("conversation_selected") == [("bob",)]
    assert main.widgets.header.cget("text") == "dave"


# -- the conversation --------------------------------------------------------------------------


def test_bodies_are_shown_exactly_with_time_sender_and_marks(main: TkChatView, root: tk.Tk) -> None:
    bodies = [
        "two\nlines",
        "emoji 😀👍🏽 and a flag 🇳🇿",
        "שלום עולם — مرحبا",
        "not obeyed: \u202eabc\x1b[31m {braces} [brackets] $dollar \\backslash",
    ]
    messages = [row(n, body=b, outgoing=n % 2 == 1) for n, b in enumerate(bodies)]
    main.open_conversation("bob", messages, more_before=False)
    settle(root)
    text = main.conversation_text()
    for body in bodies:
        assert f"\n{body}\n" in text
    local = messages[0].sent_at.astimezone().strftime("%H:%M")
    assert f"bob  {local}\n" in text
    assert text.startswith("This is the start of your conversation with bob.\n")
    assert main.mark_of(messages[1].id) == "✓✓"
    assert main.mark_of(messages[0].id) == ""  # received: no mark


def test_append_at_the_bottom_follows_the_conversation(main: TkChatView, root: tk.Tk) -> None:
    main.open_conversation("bob", rows(0, 60), more_before=False)
    settle(root)
    assert main.is_at_bottom()
    assert "message 59" in main.visible_text()

    main.append_messages(rows(60, 65))
    settle(root)
    assert main.is_at_bottom()
    assert "message 64" in main.visible_text()
    assert not main.new_messages_hint_visible()


def test_append_when_scrolled_up_stays_put_and_offers_a_way_down(
    main: TkChatView, root: tk.Tk
) -> None:
    main.open_conversation("bob", rows(0, 80), more_before=False)
    settle(root)
    text = main.widgets.messages
    text.yview_moveto(0.3)
    settle(root)
    assert not main.is_at_bottom()
    seen = main.visible_text()

    main.append_messages(rows(80, 90))
    settle(root)
    assert main.visible_text() == seen
    assert main.new_messages_hint_visible()
    assert main.widgets.new_messages.winfo_ismapped()

    main.widgets.new_messages.invoke()
    settle(root)
    assert main.is_at_bottom()
    assert "message 89" in main.visible_text()
    assert not main.new_messages_hint_visible()

    # Reaching the bottom by scrolling hides the hint too.
    text.yview_moveto(0.2)
    settle(root)
    main.append_messages(rows(90, 92))
    settle(root)
    assert main.new_messages_hint_visible()
    text.yview_moveto(1.0)
    pump(root, lambda: not main.new_messages_hint_visible(), what="the hint to hide")

    # A message the person has just sent is always followed.
    text.yview_moveto(0.2)
    settle(root)
    main.append_messages([row(92, outgoing=True, state=MessageState.PENDING)])
    settle(root)
    assert main.is_at_bottom()
    assert "message 92" in main.visible_text()


def test_scrolling_to_the_top_asks_for_older_messages_once_and_prepending_keeps_the_view(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.open_conversation("bob", rows(100, 200), more_before=True)
    settle(root)
    assert listener.named("older_requested") == []
    text = main.widgets.messages

    text.yview_moveto(0.0)
    pump(root, lambda: bool(listener.named("older_requested")), what="older_requested")
    text.yview_scroll(5, "units")
    settle(root)
    text.yview_moveto(0.0)
    settle(root)
    assert len(listener.named("older_requested")) == 1  # not again until the page arrives

    text.yview_scroll(3, "units")  # somewhere near the top, partly scrolled
    text.yview_scroll(7, "pixels")
    settle(root)
    seen = main.visible_text()
    top = text.dlineinfo("@0,0")
    main.prepend_messages(rows(50, 100), more_before=True)
    settle(root)
    assert main.visible_text() == seen
    assert text.dlineinfo("@0,0") == top
    assert_in_order(main.conversation_text(), [f"message {n}" for n in range(50, 200)])

    text.yview_moveto(0.0)
    pump(root, lambda: len(listener.named("older_requested")) == 2, what="a second request")
    main.prepend_messages(rows(0, 50), more_before=False)
    settle(root)
    content = main.conversation_text()
    assert content.startswith("This is the start of your conversation with bob.\n")
    assert_in_order(content, [f"message {n}" for n in range(200)])
    # One day: its separator is shown once, however many pages it came in.
    day = BASE.astimezone()
    assert content.count(f"{day:%A}, {day.day} {day:%B %Y}") == 1

    text.yview_moveto(0.0)
    settle(root)
    text.yview_scroll(2, "units")
    text.yview_moveto(0.0)
    settle(root)
    assert len(listener.named("older_requested")) == 2  # the start: no more asking


def test_a_short_conversation_with_more_before_asks_for_older_at_once(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.open_conversation("bob", rows(0, 2), more_before=True)
    pump(root, lambda: bool(listener.named("older_requested")), what="older_requested")
    main.open_conversation("carol", rows(0, 2), more_before=False)
    settle(root)
    assert len(listener.named("older_requested")) == 1


def test_update_message_changes_only_the_mark_and_a_failure_reason_shows_on_hover(
    main: TkChatView, root: tk.Tk
) -> None:
    mine = row(1, outgoing=True, state=MessageState.PENDING, body="are you there?")
    main.open_conversation("bob", [row(0), mine, row(2)], more_before=False)
    settle(root)
    assert main.mark_of(mine.id) == "◷"
    before = main.conversation_text()

    for state, mark in [
        (MessageState.SENT, "✓"),
        (MessageState.DELIVERED, "✓✓"),
        (MessageState.PENDING, "◷"),
    ]:
        main.update_message(MessageRow(**{**mine.__dict__, "state": state}))
        assert main.mark_of(mine.id) == mark
    assert main.conversation_text() == before

    reason = "bob could not be reached after 3 tries"
    main.update_message(
        MessageRow(**{**mine.__dict__, "state": MessageState.FAILED, "reason": reason})
    )
    settle(root)
    assert main.mark_of(mine.id) == "⚠"
    assert main.failure_reason(mine.id) == reason
    assert main.conversation_text() == before.replace("◷", "⚠")

    text = main.widgets.messages
    box = text.bbox(f"s{mine.id.hex}")
    assert box is not None
    x, y, width, height = box
    text.event_generate("<Motion>", x=x + width // 2, y=y + height // 2)
    pump(root, lambda: main.tooltip_text() is not None, what="the tooltip")
    assert reason in (main.tooltip_text() or "")
    text.event_generate("<Motion>", x=5, y=5)
    pump(root, lambda: main.tooltip_text() is None, what="the tooltip to hide")

    main.update_message(MessageRow(**{**mine.__dict__, "state": MessageState.PENDING}))
    assert main.mark_of(mine.id) == "◷"
    assert main.failure_reason(mine.id) is None


def test_focus_message_scrolls_to_it_and_highlights_it(main: TkChatView, root: tk.Tk) -> None:
    messages = rows(0, 300)
    main.open_conversation("bob", messages, more_before=False)
    settle(root)
    target = messages[40]
    assert "\nmessage 40\n" not in main.visible_text()
    main.focus_message(target.id)
    settle(root)
    assert "\nmessage 40\n" in f"\n{main.visible_text()}\n"
    assert main.highlighted_message() == target.id
    ranges = main.widgets.messages.tag_ranges("focus_in")  # message 40 is incoming
    assert "message 40" in main.widgets.messages.get(ranges[0], ranges[1])

    main.focus_message(uuid.uuid4())  # not shown: nothing happens
    assert main.highlighted_message() == target.id


def test_five_thousand_messages_in_batches_of_500_are_all_there_in_order(
    main: TkChatView, root: tk.Tk
) -> None:
    main.open_conversation("bob", [], more_before=False)
    settle(root)
    messages = rows(0, 5000)
    slowest = 0.0
    for start in range(0, 5000, 500):
        began = time.perf_counter()
        main.append_messages(messages[start : start + 500])
        slowest = max(slowest, time.perf_counter() - began)
        root.update()
    settle(root)
    assert slowest < 2.0, f"one batch of 500 took {slowest:.2f}s"
    assert_in_order(main.conversation_text(), [m.body for m in messages])
    assert main.is_at_bottom()
    assert "message 4999" in main.visible_text()
    assert main.mark_of(messages[4998].id) == "✓✓"


# -- the entry ---------------------------------------------------------------------------------


def test_enter_sends_and_shift_enter_makes_a_new_line(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    entry = main.widgets.entry
    entry.insert("end", "first line")
    press(entry, "<Shift-Return>")
    entry.insert("end", "second line")
    press(entry, "<Return>")
    assert listener.named("send_requested") == [("first line\nsecond line",)]
    assert entry.get("1.0", "end-1c") == "first line\nsecond line"  # the presenter clears it

    main.widgets.send_button.invoke()
    assert listener.named("send_requested")[-1] == ("first line\nsecond line",)

    for _ in range(8):
        press(entry, "<Shift-Return>")
    settle(root)
    assert int(entry.cget("height")) == 5  # grows, up to five lines
    main.clear_entry()
    settle(root)
    assert entry.get("1.0", "end-1c") == ""
    assert int(entry.cget("height")) == 2


# -- search ------------------------------------------------------------------------------------


def test_search_results_are_listed_and_clicking_one_reports_it(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    search = main.widgets.search
    search.insert(0, "lunch")
    press(search, "<Return>")
    assert listener.named("search_requested") == [("lunch",)]

    long_body = "x" * 200 + " shall we have lunch today? " + "y" * 200
    results = [
        SearchResultRow(
            message_id=uuid.uuid4(),
            peer="bob",
            sender="bob",
            body="lunch at noon?\nsure",
            sent_at=BASE,
        ),
        SearchResultRow(
            message_id=uuid.uuid4(),
            peer="carol",
            sender="alice",
            body=long_body,
            sent_at=BASE + timedelta(days=1),
        ),
    ]
    main.show_search_results("lunch", results)
    settle(root)
    tree = main.widgets.results
    assert main.search_results_visible()
    assert "2 messages match “lunch”" in main.widgets.results_title.cget("text")
    items = tree.get_children()
    sender, peer, excerpt = (tree.set(items[1], column) for column in ("sender", "peer", "message"))
    assert (sender, peer) == ("alice", "carol")
    assert "lunch today" in excerpt
    assert len(excerpt) <= 90
    assert tree.set(items[0], "message") == "lunch at noon? sure"

    x, y = centre_of(tree, items[1])
    tree.event_generate("<ButtonRelease-1>", x=x, y=y)
    root.update()
    assert listener.named("search_result_selected") == [(results[1],)]

    tree.focus(items[0])
    press(tree, "<Return>")
    assert listener.named("search_result_selected")[-1] == (results[0],)

    main.open_conversation("bob", [], more_before=False)
    settle(root)
    assert not main.search_results_visible()


def test_no_search_results_says_so(main: TkChatView, root: tk.Tk) -> None:
    main.show_search_results("zebra", [])
    settle(root)
    assert main.search_results_visible()
    assert main.widgets.results_title.cget("text") == "No messages match “zebra”."


# -- identity ----------------------------------------------------------------------------------

OLD = "olgw 5bbc yqd7 w3ij q2ip ceyl pxwx 5qxx 6xq5 gc6z 2uq7 afjw g6jq"
NEW = "owdx xna5 he5v 7ocf 1tta 5tmn 3iab 2brr msll ctp2 p6ev mvxo zjfa"


def notice(*, loud: bool = False) -> KeyChangeNotice:
    return KeyChangeNotice(
        peer="bob",
        title="bob's key changed.",
        text="Nothing is sent to or accepted from bob until you accept the new key.",
        previous=OLD,
        new=NEW,
        can_accept=not loud,
        loud=loud,
    )


def test_my_key_is_in_the_status_bar_to_read_select_and_copy(main: TkChatView, root: tk.Tk) -> None:
    main.show_own_key(NEW)
    settle(root)
    entry = main.widgets.own_key
    assert entry.winfo_ismapped()
    assert main.own_key_text() == NEW
    assert entry.instate(["readonly"])  # selectable, not editable
    entry.selection_range(0, "end")
    assert entry.selection_present()
    assert (entry.index("sel.first"), entry.index("sel.last")) == (0, len(NEW))
    copy = next(w for w in entry.master.winfo_children() if isinstance(w, ttk.Button))
    copy.invoke()
    assert root.clipboard_get() == NEW


def test_a_changed_key_is_marked_in_the_people_list(main: TkChatView, root: tk.Tk) -> None:
    main.set_people([PersonRow("bob", True, 0, key_changed=True), PersonRow("carol", True, 0)])
    settle(root)
    tree = main.widgets.people
    assert tree.item("p:bob", "text").strip() == "⚠ bob"
    assert tree.tag_has("key_changed", "p:bob")
    assert tree.item("p:carol", "text").strip() == "carol"
    main.set_people([PersonRow("bob", True, 0)])
    settle(root)
    assert tree.item("p:bob", "text").strip() == "bob"
    assert not tree.tag_has("key_changed", "p:bob")


def test_the_key_change_banner_shows_both_keys_and_its_buttons_name_the_peer(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.open_conversation("bob", rows(0, 3), more_before=False)
    main.show_key_change(notice())
    settle(root)
    banner = main.widgets.banner
    assert main.key_change_visible()
    assert "bob's key changed." in banner.title.cget("text")
    assert "until you accept the new key" in banner.text.cget("text")
    assert OLD in banner.previous.cget("text")
    assert NEW in banner.new.cget("text")
    for label in (banner.previous, banner.new):  # the whole fingerprint is on screen
        assert label.winfo_width() >= label.winfo_reqwidth()
    assert banner.accept_button.winfo_ismapped()
    banner.accept_button.invoke()
    banner.verify_button.invoke()
    assert listener.calls[-2:] == [
        ("accept_key_requested", ("bob",)),
        ("verify_requested", ("bob",)),
    ]

    main.show_key_change(notice(loud=True))  # a verified contact: verify only
    settle(root)
    assert banner.verify_button.winfo_ismapped()
    assert not banner.accept_button.winfo_ismapped()

    main.show_key_change(None)
    settle(root)
    assert not main.key_change_visible()


def test_verify_in_the_header_asks_for_the_open_conversation(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    assert not main.widgets.verify.winfo_ismapped()  # nobody to verify yet
    main.open_conversation("carol", [], more_before=False)
    settle(root)
    main.widgets.verify.invoke()
    assert listener.named("verify_requested") == [("carol",)]


def test_the_verify_dialog_shows_the_number_and_reports_the_number_typed(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    lines = ("12345 67890 12345 67890", "23456 78901 23456 78901", "34567 89012 34567 89012")
    main.show_verify(SafetyNumberView("bob", lines, NEW, verified=False))
    dialog = main.widgets.verify_dialog
    pump(root, dialog.visible, what="the verify dialog")
    assert dialog.number.cget("text") == "\n".join(lines)
    assert dialog.key.get() == NEW
    assert dialog.state.cget("text") == "Not verified"
    assert not dialog.note.winfo_ismapped()

    dialog.entry.insert(0, "12345 67890")
    press(dialog.entry, "<Return>")
    assert listener.named("mark_verified_requested") == [("bob", "12345 67890")]
    main.set_verify_busy(True)
    assert dialog.mark_button.instate(["disabled"])
    dialog.mark_button.invoke()  # busy: not again
    assert len(listener.named("mark_verified_requested")) == 1
    main.set_verify_busy(False)
    main.show_verify_error("That is not the safety number with bob; nothing was changed")
    settle(root)
    assert dialog.error_text().startswith("That is not the safety number")
    assert dialog.error.winfo_ismapped()

    main.show_verify(SafetyNumberView("bob", lines, NEW, verified=True))
    settle(root)
    assert dialog.state.cget("text") == "✓ You have verified bob"
    assert dialog.error_text() == ""
    assert dialog.entry.get() == "12345 67890"  # the same contact: what was typed stays

    dialog.close_button.invoke()
    settle(root)
    assert not dialog.visible()
    assert listener.named("verify_closed") == [("bob",)]


def test_a_waiting_message_says_why_on_hover(main: TkChatView, root: tk.Tk) -> None:
    why = "bob's key changed: nothing is sent to bob until you accept the new key"
    mine = row(1, outgoing=True, state=MessageState.QUEUED, reason=why)
    main.open_conversation("bob", [row(0), mine], more_before=False)
    settle(root)
    assert main.mark_of(mine.id) == "⟳"
    assert main.failure_reason(mine.id) == why
    text = main.widgets.messages
    box = text.bbox(f"s{mine.id.hex}")
    assert box is not None
    x, y, width, height = box
    text.event_generate("<Motion>", x=x + width // 2, y=y + height // 2)
    pump(root, lambda: main.tooltip_text() is not None, what="the tooltip")
    assert main.tooltip_text() == f"Waiting: {why}"
    main.update_message(MessageRow(**{**mine.__dict__, "state": MessageState.SENT, "reason": None}))
    assert main.mark_of(mine.id) == "✓"
    assert main.failure_reason(mine.id) is None


# -- status, errors, closing -------------------------------------------------------------------


def test_status_and_transient_errors(main: TkChatView, root: tk.Tk) -> None:
    main.set_status("Reconnecting to the registry…", StatusLevel.WARNING)
    assert main.status_text() == "Reconnecting to the registry…"
    warning = str(main.widgets.status.cget("foreground"))
    main.set_status("Disconnected", StatusLevel.ERROR)
    assert str(main.widgets.status.cget("foreground")) != warning

    main.error_seconds = 0.2
    main.set_status("Connected to the registry", StatusLevel.OK)
    main.show_error("Could not send: bob went offline")
    assert "Could not send: bob went offline" in main.status_text()
    main.set_status("Still connected", StatusLevel.OK)  # lasting status waits for the error
    assert "Could not send" in main.status_text()
    pump(root, lambda: main.status_text() == "Still connected", what="the error to pass")


def test_closing_the_window_asks_the_listener_and_close_destroys_it(
    view: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    root.tk.eval(root.protocol("WM_DELETE_WINDOW"))
    assert listener.named("close_requested") == [()]
    assert root.winfo_exists()
    view.close()
    with pytest.raises(tk.TclError):
        root.winfo_exists()
    view.close()  # twice is harmless


def test_the_search_hint_gives_way_to_what_is_typed(display: str) -> None:
    root = tk.Tk(screenName=display)
    try:
        view = TkChatView(root, RecordingListener())
        view.show_main("alice")
        settle(root)
        search = view.widgets.search
        hints = search.winfo_children()
        assert any(hint.winfo_ismapped() for hint in hints)
        gc.collect()  # the hint must keep watching the entry after a collection
        search.insert(0, "lunch")
        settle(root)
        assert not any(hint.winfo_ismapped() for hint in hints)
    finally:
        root.destroy()
