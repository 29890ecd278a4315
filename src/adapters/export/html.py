"""One self-contained HTML page that looks like the conversation: inline CSS, no script, no
link to anything, every text HTML-escaped.

Nothing a message holds can run or become markup: bodies, names, reasons and titles all pass
through :func:`html.escape` (quotes too, for attributes), control characters become visible
escapes, and the page's Content-Security-Policy allows no script, no request and no form even if
something slipped through.

A message is two elements, as few as it can be, because a browser's time and memory for a long
history grow with them (chromium, 300,000 messages: 83 s and 875 MB at six elements each, 55 s
and 795 MB at two): a ``div`` holding the body as its own text, its first child a ``time``
(its ``datetime`` the exact moment) reading ``bob · 2024-05-17 12:00:00 UTC · ✓✓ delivered``.
The sender is not in a ``b`` of its own: that third element cost 20% more time. ``dir="auto"``
on the ``div`` lets a right-to-left body read right to left without turning the page around;
the ``time`` has ``dir="ltr"`` of its own, so that the sender's name, not part of the body,
does not decide the body's direction (:func:`isolated` keeps a right-to-left name whole).
``white-space: pre-wrap`` keeps the body's lines and spaces. Own messages keep to the right of
the section's flex column, others' to the left.

Written as it goes: the head at the start, a section per conversation, the closing tags at
:meth:`HtmlWriter.close`.
"""

from __future__ import annotations

from html import escape
from typing import Final, TextIO

from chinwag.adapters.export.words import file_line, status, title, visible, when
from chinwag.application.history_export import ConversationHeading, ExportedMessage

_STYLE: Final = """
body { font-family: "DejaVu Sans", sans-serif; background: #eef1f4; margin: 0; padding: 1em; }
h1 { font-size: 1.3em; }
section { max-width: 46em; margin: 0 auto 2em; background: #fff; border-radius: 8px;
  padding: 0.5em 1em 1em; box-shadow: 0 1px 3px #0002; display: flex; flex-direction: column; }
h2 { font-size: 1.1em; border-bottom: 1px solid #ddd; padding-bottom: 0.3em; }
.msg { margin: 0.4em 0; max-width: 75%; padding: 0.4em 0.7em; border-radius: 10px;
  background: #f0f0f0; align-self: flex-start; white-space: pre-wrap; overflow-wrap: anywhere;
  text-align: start; }
.out { align-self: flex-end; background: #d8ecff; }
.meta { display: block; font-size: 0.75em; color: #555; white-space: normal; }
"""

_POLICY: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"
_DOT: Final = " \u00b7 "


def text(value: str) -> str:
    """``value`` as HTML text or attribute value: escaped, control characters visible."""
    return escape(visible(value), quote=True)


def isolated(name: str) -> str:
    """``name`` as one unit in the left-to-right meta line: a non-ASCII one (it may read right
    to left) between U+2068 and U+2069, the first-strong isolate and its end, so that it keeps
    its own direction without pulling the time after it into it, as a ``bdi`` element would,
    without the element."""
    return name if name.isascii() else f"\u2068{name}\u2069"


class HtmlWriter:
    """A page of ``user``'s conversations: their messages on the right, others' on the left."""

    grouped = True

    def __init__(self, out: TextIO, user: str, heading: str = "") -> None:
        self._out = out
        self._user = user
        page_title = heading or f"chinwag history of {user}"
        self._out.write(
            '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{text(page_title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{text(page_title)}</h1>\n"
        )

    def begin(self, heading: ConversationHeading) -> None:
        self._out.write(f'<section>\n<h2 dir="auto">{text(title(heading))}</h2>\n')

    def write(self, message: ExportedMessage) -> None:
        side = "out" if message.sender == self._user else "in"
        mark = status(message)
        state = f"{_DOT}{text(mark)}" if mark else ""
        self._out.write(
            f'<div class="msg {side}" id="m-{text(message.id)}" dir="auto">'
            f'<time class="meta" datetime="{text(message.sent_at.isoformat())}" dir="ltr">'
            f"{isolated(text(message.sender))}{_DOT}{text(when(message.sent_at))}{state}"
            f"</time>{text(file_line(message) + message.body)}</div>\n"
        )

    def end(self) -> None:
        self._out.write("</section>\n")

    def close(self) -> None:
        self._out.write("</body>\n</html>\n")
        self._out.flush()
