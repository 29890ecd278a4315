"""One self-contained HTML page that looks like the conversation: inline CSS, no script, no
link to anything, every text HTML-escaped.

Nothing a message holds can run or become markup: bodies, names, reasons and titles all pass
through :func:`html.escape` (quotes too, for attributes), control characters become visible
escapes, and the page's Content-Security-Policy allows no script, no request and no form even if
something slipped through. ``dir="auto"`` lets a right-to-left message read right to left
without turning the page around; ``white-space: pre-wrap`` keeps its lines and spaces.

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
  padding: 0.5em 1em 1em; box-shadow: 0 1px 3px #0002; }
h2 { font-size: 1.1em; border-bottom: 1px solid #ddd; padding-bottom: 0.3em; }
.msg { margin: 0.4em 0; max-width: 75%; padding: 0.4em 0.7em; border-radius: 10px;
  background: #f0f0f0; clear: both; float: left; }
.msg.out { float: right; background: #d8ecff; }
.meta { font-size: 0.75em; color: #555; }
.who { font-weight: bold; }
.body { white-space: pre-wrap; overflow-wrap: anywhere; text-align: start; }
.state { font-size: 0.75em; color: #555; }
.end { clear: both; }
"""

_POLICY: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"


def text(value: str) -> str:
    """``value`` as HTML text or attribute value: escaped, control characters visible."""
    return escape(visible(value), quote=True)


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
        state = f'<div class="state">{text(mark)}</div>' if mark else ""
        self._out.write(
            f'<div class="msg {side}" id="m-{text(message.id)}">'
            f'<div class="meta"><span class="who" dir="auto">{text(message.sender)}</span> '
            f'<time datetime="{text(message.sent_at.isoformat())}">'
            f"{text(when(message.sent_at))}</time></div>"
            f'<div class="body" dir="auto">{text(file_line(message) + message.body)}</div>'
            f"{state}</div>\n"
        )

    def end(self) -> None:
        self._out.write('<div class="end"></div>\n</section>\n')

    def close(self) -> None:
        self._out.write("</body>\n</html>\n")
        self._out.flush()
