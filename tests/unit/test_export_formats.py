"""The export formats on their own: nothing a message holds becomes markup or script in the HTML
page, nor a terminal escape in the text; JSON lines read back as the same message; messages
come out in the order given."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from uuid import UUID

import pytest

from chinwag.adapters.export.html import HtmlWriter
from chinwag.adapters.export.jsonl import BadLine, JsonLinesWriter, parse_line
from chinwag.adapters.export.text import TextWriter
from chinwag.application.history_export import (
    ConversationHeading,
    ExportedDelivery,
    ExportedMessage,
    ExportScope,
    HistoryWriter,
    export_history,
)
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import MessageState

T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)
ALICE_BOB = Conversation.direct("alice", "bob")
GROUP = UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8091")

HOSTILE = (
    "<script>alert('x')</script> </div></section></body> & &amp; \"quoted\" 'single'\n"
    "second line <img src=x onerror=alert(1)> <!-- -->\n"
    "שלום עולם مرحبا 👍🏽 👨‍👩‍👧 \u202e reversed"
)


def direct(n: int, body: str = "hi", sender: str = "alice", **more: object) -> ExportedMessage:
    other = "bob" if sender == "alice" else "alice"
    fields: dict[str, object] = {
        "id": str(UUID(int=n)),
        "conversation_id": str(ALICE_BOB.id),
        "sender": sender,
        "recipient": other,
        "peer": "bob",
        "group_id": None,
        "body": body,
        "sent_at": T0 + timedelta(seconds=n),
        "state": "delivered" if sender == "alice" else "received",
    }
    fields.update(more)
    return ExportedMessage(**fields)  # type: ignore[arg-type]


def grouped(n: int, sender: str = "alice") -> ExportedMessage:
    return ExportedMessage(
        id=str(UUID(int=n)),
        conversation_id=str(GROUP),
        sender=sender,
        recipient=None,
        peer=None,
        group_id=str(GROUP),
        body=f"group note {n}",
        sent_at=T0 + timedelta(seconds=n),
        state="sent" if sender == "alice" else "received",
        stamp_seq=n,
        stamp_version=2,
        stamp_signature=bytes(range(64)),
        deliveries=(
            (ExportedDelivery("bob", "delivered"), ExportedDelivery("carol", "queued", "offline"))
            if sender == "alice"
            else ()
        ),
    )


class ListSource:
    """A :class:`HistorySource` over a list, one conversation per distinct id."""

    def __init__(self, messages: list[ExportedMessage]) -> None:
        self._messages = messages

    def count(self, scope: ExportScope) -> int:
        return len(self._messages)

    def conversations(self, scope: ExportScope) -> list[ConversationHeading]:
        seen: dict[str, ConversationHeading] = {}
        for m in self._messages:
            count = seen[m.conversation_id].messages + 1 if m.conversation_id in seen else 1
            seen[m.conversation_id] = ConversationHeading(
                m.conversation_id, m.peer, m.group_id, "Friends <b>" if m.group_id else None, count
            )
        return list(seen.values())

    def messages(
        self, scope: ExportScope, conversation_id: str | None = None
    ) -> Iterator[ExportedMessage]:
        return (
            m
            for m in self._messages
            if conversation_id is None or m.conversation_id == conversation_id
        )


def render(writer_of: type, messages: list[ExportedMessage]) -> str:
    out = io.StringIO()
    writer: HistoryWriter = HtmlWriter(out, "alice") if writer_of is HtmlWriter else writer_of(out)
    assert export_history(ListSource(messages), writer, ExportScope()) == len(messages)
    return out.getvalue()


class _Page(HTMLParser):
    """What a browser would build: the elements opened, and each message's attributes (its
    ``time``'s as ``time <name>``), its body (the text of its ``div`` itself) and its meta line
    (the text of its ``time``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.messages: list[dict[str, str]] = []
        self.bodies: list[str] = []
        self.metas: list[str] = []
        self._open: list[str] = []  # the elements open inside the message, its div first

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)
        fields = {name: value or "" for name, value in attrs}
        if self._open:
            self._open.append(tag)
            if self._open == ["div", "time"]:
                self.messages[-1].update({f"time {k}": v for k, v in fields.items()})
                self.metas.append("")
        elif fields.get("class", "").startswith("msg "):
            self._open.append(tag)
            self.messages.append(fields)
            self.bodies.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open == ["div"]:
            self.bodies[-1] += data
        elif self._open[:2] == ["div", "time"]:
            self.metas[-1] += data

    @property
    def names(self) -> list[str]:
        """Each message's sender: its meta line's first part."""
        return [meta.split(" · ")[0] for meta in self.metas]


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    return parsed


PAGE_ELEMENTS = {"html", "head", "meta", "title", "style", "body", "h1", "section", "h2"}
MESSAGE_ELEMENTS = ["div", "time"]
"""A message's elements, all of them: a browser's time and memory for a long page grow with
the elements, so each one more costs (see :mod:`chinwag.adapters.export.html`)."""


def test_html_escapes_every_body_and_keeps_it_whole() -> None:
    messages = [direct(1, HOSTILE), direct(2, "plain", sender="bob"), direct(3, "<b>&</b>")]
    page = render(HtmlWriter, messages)
    parsed = parse(page)
    shown = HOSTILE.replace("\u202e", "\\u202e")  # the override shown, not obeyed
    assert parsed.bodies == [shown, "plain", "<b>&</b>"]  # the text, as written
    assert set(parsed.tags) == PAGE_ELEMENTS | {*MESSAGE_ELEMENTS}
    assert parsed.tags.count("div") == 3  # none from a body
    assert parsed.names == ["alice", "bob", "alice"]
    assert not [name for name in parsed.attributes if name.startswith("on")]
    assert page.count("<section>") == page.count("</section>") == 1
    assert "<script" not in page.lower()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.rstrip().endswith("</html>")


def test_html_escapes_names_titles_and_reasons_too() -> None:
    hostile_reason = direct(1, "x", state="failed", reason="<i>bad</i>")
    page = render(HtmlWriter, [hostile_reason, grouped(2)])
    assert "<i>" not in page and "&lt;i&gt;bad&lt;/i&gt;" in page
    assert "Friends <b>" not in page and "Friends &lt;b&gt;" in page
    parsed = parse(page)
    assert "i" not in parsed.tags and "b" not in parsed.tags
    assert parsed.metas[0] == "alice · 2024-05-17 12:30:46 UTC · ⚠ not delivered (<i>bad</i>)"
    assert parsed.metas[1] == "alice · 2024-05-17 12:30:47 UTC · ✓ sent 1/2"


def test_html_holds_the_messages_in_order_by_side() -> None:
    messages = [direct(n, f"message {n}", sender="alice" if n % 2 else "bob") for n in range(20)]
    page = render(HtmlWriter, messages)
    parsed = parse(page)
    assert parsed.bodies == [f"message {n}" for n in range(20)]
    sides = re.findall(r'class="msg (in|out)"', page)
    assert sides == ["out" if n % 2 else "in" for n in range(20)]
    assert parsed.names == ["alice" if n % 2 else "bob" for n in range(20)]
    assert parsed.metas[0] == "bob · 2024-05-17 12:30:45 UTC"  # received: no mark
    assert parsed.metas[1] == "alice · 2024-05-17 12:30:46 UTC · ✓✓ delivered"
    first = parsed.messages[0]
    assert first["id"] == f"m-{UUID(int=0)}"  # an anchor to link to
    assert first["dir"] == "auto"  # on the element holding the body
    assert first["time datetime"] == T0.isoformat()  # the exact moment, for machines
    assert first["time dir"] == "ltr"  # so that the name does not decide the body's direction
    in_sections = parsed.tags[parsed.tags.index("h2") + 1 :]
    assert in_sections == MESSAGE_ELEMENTS * 20  # and no more per message


def test_html_shows_a_file_offer_and_keeps_a_right_to_left_body() -> None:
    offer = json.dumps({"name": "a.txt", "size": 1, "sha256": "00" * 32, "piece_size": 1})
    arabic = "مرحبا\nسطر ثان"
    parsed = parse(render(HtmlWriter, [direct(1, "a.txt", file=offer), direct(2, arabic)]))
    assert parsed.bodies == ["[file] a.txt", arabic]
    assert [m["dir"] for m in parsed.messages] == ["auto", "auto"]


def test_html_isolates_a_right_to_left_name_in_the_meta_line() -> None:
    """An Arabic name between U+2068 and U+2069, so that the time after it still reads left
    to right; an ASCII one as it is."""
    parsed = parse(render(HtmlWriter, [direct(1, "x", sender="أحمد"), direct(2, "y")]))
    assert parsed.metas == [
        "\u2068أحمد\u2069 · 2024-05-17 12:30:46 UTC",
        "alice · 2024-05-17 12:30:47 UTC · ✓✓ delivered",
    ]


def test_html_keeps_control_characters_visible_not_raw() -> None:
    page = render(HtmlWriter, [direct(1, "bell\x07 and \x1b[31mred")])
    assert "\x07" not in page and "\x1b" not in page
    assert "bell\\x07 and \\x1b[31mred" in page
    assert parse(page).bodies == ["bell\\x07 and \\x1b[31mred"]


def test_text_indents_continuation_lines_and_shows_escapes() -> None:
    text = render(TextWriter, [direct(1, "one\ntwo"), direct(2, "\x1b]0;owned\x07", sender="bob")])
    lines = text.splitlines()
    assert lines[0] == "== Conversation with bob (2 messages) =="
    assert lines[1] == "2024-05-17 12:30:46 UTC  alice: one"
    assert lines[2] == "    two  ✓✓ delivered"
    assert lines[3] == "2024-05-17 12:30:47 UTC  bob: \\x1b]0;owned\\x07"
    assert "\x1b" not in text


def test_text_keeps_rtl_and_emoji_as_they_are() -> None:
    text = render(TextWriter, [direct(1, HOSTILE)])
    assert "שלום עולם مرحبا 👍🏽 👨‍👩‍👧" in text
    assert "<script>alert('x')</script>" in text  # text is not markup: nothing to escape


def test_text_groups_by_conversation_with_group_marks() -> None:
    text = render(TextWriter, [direct(1), grouped(2), direct(3), grouped(4, sender="bob")])
    assert text.index("Conversation with bob") < text.index("Group Friends <b>")
    assert "✓ sent 1/2" in text
    bob_section = text.split("\n\n")[0]
    assert "12:30:46" in bob_section and "12:30:48" in bob_section


def test_json_lines_read_back_as_the_same_messages() -> None:
    offer = json.dumps(
        {
            "name": "a <b>.txt",
            "size": 3,
            "sha256": "00" * 32,
            "piece_size": 524288,
            "root": "11" * 32,
            "mime": "text/plain",
        }
    )
    messages = [
        direct(1, HOSTILE),
        direct(2, "offer", sender="bob", file=offer, received_at=T0 + timedelta(hours=1)),
        direct(3, "waiting", state="queued", reason="offline"),
        grouped(4),
        grouped(5, sender="carol"),
    ]
    lines = render(JsonLinesWriter, messages).splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert first["body"] == HOSTILE and first["peer"] == "bob" and first["v"] == 1
    back = [parse_line(line) for line in lines]
    assert [str(b.message.id) for b in back] == [m.id for m in messages]
    assert back[0].message.body == HOSTILE
    assert back[0].message.sent_at == messages[0].sent_at  # to the microsecond
    assert back[1].message.file is not None and back[1].message.file.name == "a <b>.txt"
    assert back[1].message.received_at == T0 + timedelta(hours=1)
    assert back[2].message.state is MessageState.QUEUED and back[2].message.reason == "offline"
    assert back[3].message.stamp is not None
    assert back[3].message.stamp.signature == bytes(range(64))
    assert [(d.recipient, d.state, d.reason) for d in back[3].deliveries] == [
        ("bob", MessageState.DELIVERED, None),
        ("carol", MessageState.QUEUED, "offline"),
    ]
    assert back[4].deliveries == () and back[4].message.recipient is None


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"v": 2}', "format 2"),
        ('{"v": 1, "id": "x"}', "UUID"),
        (None, "sender"),
    ],
)
def test_a_bad_line_is_refused_saying_why(line: str | None, why: str) -> None:
    if line is None:
        fields = json.loads(render(JsonLinesWriter, [direct(1)]))
        fields["sender"] = "Not a name!"
        line = json.dumps(fields)
    with pytest.raises(BadLine, match=why):
        parse_line(line)


def test_bidi_controls_separators_and_crlf_are_shown_not_obeyed() -> None:
    """A file name spoofed with a right-to-left override reads as written in both readable
    formats; a line separator cannot start a line an editor would take for another message;
    a Windows line end is one line end, not a visible ``\\x0d``."""
    spoofed = direct(1, "abc\u202etxt.exe\u202c", sender="bob")
    separated = direct(2, "one\u2028two\r\nthree", sender="bob")
    page = render(HtmlWriter, [spoofed, separated])
    assert "\u202e" not in page and "\u2028" not in page and "\r" not in page
    assert parse(page).bodies == ["abc\\u202etxt.exe\\u202c", "one\\u2028two\nthree"]
    text = render(TextWriter, [spoofed, separated])
    assert "\u202e" not in text and "\u2028" not in text and "\r" not in text
    assert "bob: abc\\u202etxt.exe\\u202c\n" in text
    assert "bob: one\\u2028two\n    three\n" in text
