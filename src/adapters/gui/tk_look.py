"""How the window looks: colours, fonts, ttk styles and the presence dots. No behaviour."""

from __future__ import annotations

import math
import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk

from chinwag.adapters.gui.view import StatusLevel

BG = "#f6f7f9"
SIDE = "#eef0f4"
PANE = "#ffffff"
LINE = "#dfe3e8"
TEXT = "#1f2329"
MUTED = "#6b7280"
ACCENT = "#2563eb"
ACCENT_DARK = "#1d4ed8"
OUT_BG = "#dbe8fe"
IN_BG = "#f0f2f5"
ONLINE = "#22a559"
OFFLINE = "#c3c8cf"
WARNING = "#b26b00"
WARNING_BG = "#fff4d6"
WARNING_LINE = "#f0c36d"
ERROR = "#c62828"
ERROR_BG = "#fde7e7"
ERROR_LINE = "#ef9a9a"
FOCUS = "#ffe9a8"
TIP_BG = "#2b2f36"
HINT = "#9aa1ab"

LEVEL_COLOURS = {StatusLevel.OK: ONLINE, StatusLevel.WARNING: WARNING, StatusLevel.ERROR: ERROR}


class Fonts:
    """The window's fonts, made once per root (the default family at chosen sizes)."""

    def __init__(self, root: tk.Misc) -> None:
        base = tkfont.nametofont("TkDefaultFont")
        family = base.actual("family")
        for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont"):
            tkfont.nametofont(name).configure(size=10)
        tkfont.nametofont("TkHeadingFont").configure(weight="bold")
        self.normal = tkfont.Font(root, family=family, size=11)
        self.bold = tkfont.Font(root, family=family, size=11, weight="bold")
        self.small = tkfont.Font(root, family=family, size=9)
        self.small_bold = tkfont.Font(root, family=family, size=9, weight="bold")
        self.italic = tkfont.Font(root, family=family, size=9, slant="italic")
        self.gap = tkfont.Font(root, family=family, size=2)
        self.header = tkfont.Font(root, family=family, size=13, weight="bold")
        self.title = tkfont.Font(root, family=family, size=22, weight="bold")
        mono = tkfont.nametofont("TkFixedFont").actual("family")
        self.mono_small = tkfont.Font(root, family=mono, size=9)
        self.number = tkfont.Font(root, family=mono, size=18, weight="bold")


def apply_styles(root: tk.Misc, fonts: Fonts) -> None:
    """Configure every ttk style the window's parts use."""
    style = ttk.Style(root)
    if style.theme_use() in ("default", "alt", "classic"):
        style.theme_use("clam")
    style.configure(".", background=BG, foreground=TEXT)
    style.configure("TFrame", background=BG)
    style.configure("TLabel", background=BG, foreground=TEXT)
    style.configure("Card.TFrame", background=PANE, relief="solid", borderwidth=1)
    style.configure("Card.TLabel", background=PANE)
    style.configure("Title.TLabel", background=PANE, foreground=ACCENT, font=fonts.title)
    style.configure("Muted.Card.TLabel", background=PANE, foreground=MUTED)
    style.configure("Error.TLabel", background=PANE, foreground=ERROR, font=fonts.small)
    style.configure("Pane.TFrame", background=PANE)
    style.configure("Header.TLabel", background=PANE, font=fonts.header)
    style.configure("Presence.TLabel", background=PANE, foreground=MUTED)
    style.configure("Side.TFrame", background=SIDE)
    style.configure("Side.TLabel", background=SIDE, foreground=MUTED, font=fonts.small)
    style.configure("Me.TLabel", background=SIDE, foreground=TEXT, font=fonts.bold)
    style.configure("Placeholder.TLabel", background=PANE, foreground=HINT)
    _solid_button(style, "Accent.TButton", ACCENT, ACCENT_DARK, "#9db7ef", padding=(16, 6))
    style.configure(
        "Hint.TButton",
        background=ACCENT,
        foreground="#ffffff",
        bordercolor=ACCENT,
        lightcolor=ACCENT,
        darkcolor=ACCENT,
        padding=(12, 3),
        font=fonts.small_bold,
    )
    style.map("Hint.TButton", background=[("active", ACCENT_DARK)])
    style.configure("Flat.TButton", padding=(8, 2))
    style.configure("TEntry", padding=(6, 4), fieldbackground=PANE)
    linespace = fonts.normal.metrics("linespace")
    style.configure(
        "People.Treeview",
        background=SIDE,
        fieldbackground=SIDE,
        foreground=TEXT,
        borderwidth=0,
        rowheight=linespace + 14,
        font=fonts.normal,
    )
    style.layout("People.Treeview", [("Treeview.treearea", {"sticky": "nswe"})])
    style.map(
        "People.Treeview",
        background=[("selected", OUT_BG)],
        foreground=[("selected", TEXT)],
    )
    style.configure(
        "Results.Treeview", background=PANE, fieldbackground=PANE, rowheight=linespace + 10
    )
    style.map(
        "Results.Treeview", background=[("selected", OUT_BG)], foreground=[("selected", TEXT)]
    )
    style.configure(
        "Results.Treeview.Heading",
        background=SIDE,
        foreground=MUTED,
        relief="flat",
        borderwidth=0,
        font=fonts.small_bold,
        padding=(6, 4),
    )
    style.map("Results.Treeview.Heading", background=[("active", LINE)])
    style.configure("Counter.TLabel", background=PANE, foreground=MUTED, font=fonts.small)
    style.configure("Over.Counter.TLabel", foreground=ERROR, font=fonts.small_bold)
    style.configure("Status.TFrame", background=SIDE)
    style.configure("Status.TLabel", background=SIDE, font=fonts.small)
    _identity_styles(style, fonts)


def _identity_styles(style: ttk.Style, fonts: Fonts) -> None:
    """The key-change banner (amber, or red when a verified contact changed), the verify
    dialog and the user's own key in the status bar."""
    for name, background, border, colour in (
        ("Warning", WARNING_BG, WARNING_LINE, WARNING),
        ("Danger", ERROR_BG, ERROR_LINE, ERROR),
    ):
        style.configure(
            f"{name}.Banner.TFrame", background=background, bordercolor=border, relief="solid"
        )
        style.configure(
            f"{name}.Banner.TLabel", background=background, foreground=TEXT, font=fonts.normal
        )
        style.configure(
            f"{name}.Title.Banner.TLabel",
            background=background,
            foreground=colour,
            font=fonts.bold,
        )
        style.configure(
            f"{name}.Key.Banner.TLabel",
            background=background,
            foreground=MUTED,
            font=fonts.mono_small,
        )
    _solid_button(style, "Danger.TButton", ERROR, "#a31f1f", "#e7a3a3", padding=(12, 4))
    style.configure("Small.Accent.TButton", padding=(12, 4))
    style.configure("Number.TLabel", background=PANE, foreground=TEXT, font=fonts.number)
    style.configure("Key.Card.TLabel", background=PANE, foreground=MUTED, font=fonts.mono_small)
    style.configure("Verified.Card.TLabel", background=PANE, foreground=ONLINE, font=fonts.bold)
    style.configure("Unverified.Card.TLabel", background=PANE, foreground=WARNING, font=fonts.bold)
    style.configure(
        "OwnKey.TEntry",
        fieldbackground=SIDE,
        background=SIDE,
        foreground=MUTED,
        bordercolor=SIDE,
        lightcolor=SIDE,
        darkcolor=SIDE,
        padding=(2, 0),
    )
    style.configure("Status.TButton", padding=(6, 0), font=fonts.small)
    style.configure(
        "Header.TButton",
        background=PANE,
        bordercolor=LINE,
        lightcolor=PANE,
        darkcolor=PANE,
        foreground=ACCENT_DARK,
        padding=(10, 2),
    )
    style.map("Header.TButton", background=[("active", OUT_BG)])


def _solid_button(
    style: ttk.Style, name: str, colour: str, dark: str, disabled: str, padding: tuple[int, int]
) -> None:
    style.configure(
        name,
        background=colour,
        foreground="#ffffff",
        bordercolor=colour,
        lightcolor=colour,
        darkcolor=colour,
        focuscolor=colour,
        padding=padding,
    )
    style.map(
        name,
        background=[("disabled", disabled), ("pressed", dark), ("active", dark)],
        foreground=[("disabled", "#eef3fd")],
        bordercolor=[("disabled", disabled)],
        lightcolor=[("disabled", disabled), ("active", dark)],
        darkcolor=[("disabled", disabled), ("active", dark)],
    )


def dot(master: tk.Misc, colour: str, *, ring: bool, size: int = 10) -> tk.PhotoImage:
    """A small filled (or hollow) circle, for presence."""
    image = tk.PhotoImage(master=master, width=size + 4, height=size)
    radius = size / 2
    for y in range(size):
        for x in range(size):
            distance = math.hypot(x + 0.5 - radius, y + 0.5 - radius)
            if distance <= radius - 0.2 and (not ring or distance >= radius - 2.2):
                image.put(colour, (x + 2, y))
    return image


def group_icon(master: tk.Misc, colour: str, size: int = 10) -> tk.PhotoImage:
    """Two small overlapping heads, the size of a presence dot: a group in the side list."""
    image = tk.PhotoImage(master=master, width=size + 4, height=size)
    radius = size * 0.34
    for y in range(size):
        for x in range(size + 4):
            for cx in (radius + 0.5, size + 3.5 - radius):
                if math.hypot(x + 0.5 - cx, y + 0.5 - size / 2) <= radius:
                    image.put(colour, (x, y))
    return image


def message_tags(t: tk.Text, f: Fonts, inset: int) -> None:
    """The look of the conversation pane's tags: day lines, message blocks, marks, highlight."""
    t.tag_configure(
        "day", justify="center", foreground=MUTED, font=f.small_bold, spacing1=14, spacing3=4
    )
    t.tag_configure(
        "start", justify="center", foreground=MUTED, font=f.italic, spacing1=10, spacing3=6
    )
    t.tag_configure("placeholder", justify="center", foreground=MUTED, spacing1=120, font=f.normal)
    t.tag_configure(
        "notice", justify="center", foreground=MUTED, font=f.small, spacing1=6, spacing3=10
    )
    t.tag_configure("notice_time", foreground=HINT)
    t.tag_configure("meta_in", font=f.small, foreground=MUTED, spacing1=4, lmargin1=inset)
    t.tag_configure("gap", spacing3=8)
    t.tag_configure("sender", font=f.small_bold, foreground=ACCENT_DARK)
    # Messages are blocks: the inner margin is painted in the block's colour, the outer one
    # (set by _set_margins, a share of the width) in the pane's.
    t.tag_configure(
        "body_in",
        font=f.normal,
        background=IN_BG,
        lmargin1=inset,
        lmargin2=inset,
        lmargincolor=IN_BG,
        rmargincolor=PANE,
        spacing1=2,
        spacing3=2,
    )
    t.tag_configure(
        "body_out",
        font=f.normal,
        background=OUT_BG,
        rmargin=inset,
        rmargincolor=OUT_BG,
        lmargincolor=PANE,
        spacing1=2,
        spacing3=2,
    )
    t.tag_configure(
        "meta_out", font=f.small, foreground=MUTED, justify="right", rmargin=inset, spacing1=2
    )
    t.tag_configure(
        "divider",
        justify="center",
        foreground=ERROR,
        font=f.small_bold,
        spacing1=10,
        spacing3=6,
        underline=False,
    )
    t.tag_configure("link", foreground=ACCENT_DARK, underline=True)
    t.tag_configure("mark_pending", foreground=MUTED)
    t.tag_configure("mark_queued", foreground=WARNING)
    t.tag_configure("mark_sent", foreground=MUTED)
    t.tag_configure("mark_delivered", foreground=ACCENT)
    t.tag_configure("mark_failed", foreground=ERROR, font=f.small_bold)
    # A highlighted block keeps its shape: its inner margin turns yellow, its outer one stays.
    t.tag_configure("focus_in", background=FOCUS, lmargincolor=FOCUS, rmargincolor=PANE)
    t.tag_configure("focus_out", background=FOCUS, lmargincolor=PANE, rmargincolor=FOCUS)
    t.tag_raise("focus_in")
    t.tag_raise("focus_out")
    t.tag_raise("sel")
