"""Links in message bodies: found by a plain pattern, shown underlined, opened on click.

A link is only ever text in the pane: it is inserted as characters with a tag, and the only
thing done with it is handing the URL to the opener (``webbrowser.open`` in the app). Only
``http``/``https`` URLs and bare ``www.`` names are links, so a ``javascript:`` or ``file:``
text stays text.
"""

from __future__ import annotations

import re
import tkinter as tk
import webbrowser
from collections.abc import Callable, Iterator

from chinwag.adapters.gui.tk_widgets import Tooltip

_LINK = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*'\""
_PAIRS = {")": "(", "]": "[", "}": "{"}

Opener = Callable[[str], object]
"""Opens a URL (``webbrowser.open``); injected so tests can record it."""


def split_links(body: str) -> Iterator[tuple[str, str | None]]:
    """``body`` as pieces of text, each with the URL it links to (``None`` for plain text).

    Punctuation that ends a sentence is not part of the link, nor is a closing bracket that
    was not opened inside it (``(see https://x.org/a)``).
    """
    end = 0
    for match in _LINK.finditer(body):
        text = _trim(match.group())
        if "." not in text.split("//", 1)[-1]:
            continue  # "http://" or "www." alone
        start = match.start()
        if start > end:
            yield body[end:start], None
        url = text if "://" in text else f"https://{text}"
        yield text, url
        end = start + len(text)
    if end < len(body):
        yield body[end:], None


def _trim(text: str) -> str:
    while text:
        last = text[-1]
        unopened = last in _PAIRS and text.count(last) > text.count(_PAIRS[last])
        if last in _TRAILING or unopened:
            text = text[:-1]
        else:
            break
    return text


class Links:
    """The link tags of one text widget: the URL behind each, the hover tooltip, the click."""

    def __init__(self, text: tk.Text, tip: Tooltip, opener: Opener = webbrowser.open) -> None:
        self._text = text
        self._tip = tip
        self.opener = opener
        self.failed: Callable[[str], None] = lambda _text: None
        """Tells the person something went wrong (the window sets it to its status bar)."""
        self._urls: dict[str, str] = {}
        self._next = 0
        self._pointed: str | None = None  # the link the menu was opened on
        self.menu = tk.Menu(text, tearoff=False)
        self.menu.add_command(label="Copy link address", command=self._copy_pointed)
        text.tag_bind("link", "<Enter>", self._enter)
        text.tag_bind("link", "<Leave>", self._leave)
        text.tag_bind("link", "<ButtonRelease-1>", self._click)
        text.tag_bind("link", "<Button-3>", self._context)

    def tags(self, url: str) -> tuple[str, ...]:
        """The tags for the text of one link to ``url``."""
        self._next += 1
        tag = f"u{self._next}"
        self._urls[tag] = url
        return ("link", tag)

    def clear(self) -> None:
        """Forget every link (the pane was emptied)."""
        for tag in self._urls:
            self._text.tag_delete(tag)
        self._urls.clear()

    def url_at(self, index: str) -> str | None:
        return next((self._urls[t] for t in self._text.tag_names(index) if t in self._urls), None)

    def _enter(self, event: tk.Event[tk.Text]) -> None:
        url = self.url_at("current")
        if url is not None:
            self._text.configure(cursor="hand2")
            self._tip.show(url, event.x_root, event.y_root)

    def _leave(self, _event: tk.Event[tk.Text]) -> None:
        self._text.configure(cursor="xterm")
        self._tip.hide()

    def _click(self, _event: tk.Event[tk.Text]) -> None:
        if self._text.tag_ranges("sel"):
            return  # the person was selecting text, not following the link
        url = self.url_at("current")
        if url is not None:
            self.open(url)

    def open(self, url: str) -> None:
        """Open ``url`` in a browser; when none works (``webbrowser.open`` says False or
        raises), say so and put the address on the clipboard, never fail in silence."""
        try:
            opened = self.opener(url) is not False
        except Exception:  # any browser failure is told, never raised into Tk
            opened = False
        if not opened:
            self.copy(url)
            self.failed(
                f"Could not open a browser for {url}; the address is copied to the clipboard."
            )

    def copy(self, url: str) -> None:
        self._text.clipboard_clear()
        self._text.clipboard_append(url)

    def _context(self, event: tk.Event[tk.Text]) -> str:
        self._pointed = self.url_at(f"@{event.x},{event.y}")
        if self._pointed is not None:
            try:
                self.menu.tk_popup(event.x_root, event.y_root)
            finally:
                self.menu.grab_release()
        return "break"

    def _copy_pointed(self) -> None:
        if self._pointed is not None:
            self.copy(self._pointed)
