"""The connection doctor in the real Tk window (Xvfb): the menu entry, the window as the checks
answer, "Check again" and closing; the path next to a person and in the conversation header."""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont

import pytest

from chinwag.adapters.gui.tk_doctor import MAX_LINES, DoctorWindow
from chinwag.adapters.gui.tk_view import TkChatView
from chinwag.adapters.gui.view import DoctorRow, DoctorView, PersonRow
from tests.gui_support import press, pump, settle
from tests.integration.test_tk_view import RecordingListener, listener, main, root, view

__all__ = ["listener", "main", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)

CHECKING = DoctorView(
    "Checking your connection…",
    "",
    False,
    (DoctorRow("bob", "", "", "", False), DoctorRow("carol", "", "", "", False)),
    busy=True,
)
DONE = DoctorView(
    "Registry connected · accepting no direct connections · not reachable directly",
    "You accept no direct connections (--listen none): messages reach you through the "
    "registry's relay; to be reached directly, start chinwag with --listen and a port people "
    "can reach.",
    False,
    (
        DoctorRow(
            "bob",
            "relayed",
            "42 ms",
            "bob's port is not reachable from outside: messages to bob go through the relay; "
            "to connect directly, bob can forward port 7421.",
            True,
        ),
        DoctorRow("carol", "offline", "", "carol is offline; ask carol to start chinwag.", False),
    ),
    busy=False,
)


def test_the_doctor_window_from_the_menu_as_the_checks_answer(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.widgets.menu.invoke("Connection doctor…")
    assert listener.named("doctor_requested") == [()]

    doctor = main.widgets.doctor
    main.show_doctor(CHECKING)
    pump(root, doctor.visible, what="the doctor's window")
    assert doctor.again.instate(["disabled"]) and doctor.again.cget("text") == "Checking…"
    assert doctor.content().splitlines() == [
        "Checking your connection…",
        "",
        "bob   checking…",
        "",
        "carol   checking…",
    ]

    main.show_doctor(DONE)
    settle(root)
    text = doctor.content()
    assert text.startswith(DONE.summary + "\n" + DONE.reason + "\n")
    assert "bob   relayed · 42 ms\nbob's port is not reachable from outside" in text
    assert "carol   offline\ncarol is offline; ask carol to start chinwag." in text
    assert not doctor.again.instate(["disabled"])

    doctor.again.invoke()
    assert listener.named("doctor_requested") == [(), ()]
    press(doctor.close_button, "<Escape>")
    pump(root, lambda: not doctor.visible(), what="the doctor's window to close")
    assert listener.named("doctor_closed") == [()]


def test_the_path_shows_next_to_the_person_and_in_the_header(main: TkChatView, root: tk.Tk) -> None:
    main.set_people([PersonRow("bob", True, 0, path="relayed"), PersonRow("carol", False, 0)])
    main.open_conversation("bob", [], False)
    settle(root)
    tree = main.widgets.people
    assert [tree.set(item, "path") for item in tree.get_children()] == ["relayed", ""]
    assert main.presence_text() == "● online · relayed"
    main.set_people([PersonRow("bob", True, 0, path="direct"), PersonRow("carol", False, 0)])
    assert main.presence_text() == "● online · direct"
    main.set_people([PersonRow("bob", False, 0), PersonRow("carol", False, 0)])
    assert main.presence_text() == "offline"


def many(count: int) -> DoctorView:
    rows = tuple(
        DoctorRow(f"user{n}", "direct", "3 ms", "reachable directly; nothing to do.", True)
        for n in range(count)
    )
    return DoctorView(DONE.summary, DONE.reason, False, rows, busy=False)


def test_the_doctor_window_wraps_at_one_width_and_fits_its_rows(
    main: TkChatView, root: tk.Tk
) -> None:
    doctor: DoctorWindow = main.widgets.doctor
    main.show_doctor(DONE)
    pump(root, doctor.visible, what="the doctor's window")
    settle(root)
    people = doctor.people
    # Your own reason wraps where each person's does: at the list's width.
    assert int(doctor.reason.cget("wraplength")) == people.winfo_width()
    assert int(doctor.summary.cget("wraplength")) == people.winfo_width()
    # Two people: the list is as tall as their rows, not a big empty area.
    two = int(people.cget("height"))
    assert two == doctor.lines() < 14
    # More people: it grows, then scrolls from MAX_LINES on.
    main.show_doctor(many(4))
    settle(root)
    assert int(people.cget("height")) > two
    main.show_doctor(many(40))
    settle(root)
    assert int(people.cget("height")) == MAX_LINES < doctor.lines()


def test_the_path_column_fits_relayed_even_in_bold(main: TkChatView, root: tk.Tk) -> None:
    tree = main.widgets.people
    bold = tkfont.Font(root, font=str(tree.tag_configure("unread", "font")))
    assert int(tree.column("path", "width")) > bold.measure("relayed")
