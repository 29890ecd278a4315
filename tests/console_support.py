"""What the console tests share: two people's keys, a message to print, and a terminal
output signed in as alice."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from uuid import UUID

from chinwag.adapters.console.text_output import TextOutput
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress

ALICE_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32
BOBS_NEW_KEY = bytes([0xB1]) * 32
ALICE_FP = fingerprint(ALICE_KEY)

MESSAGE = Message(
    id=UUID(int=1),
    conversation_id=direct_conversation_id("alice", "bob"),
    sender="alice",
    recipient="bob",
    body="hi 👋\nthere",
    sent_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    state=MessageState.RECEIVED,
)


def signed_in(me: str = "alice") -> tuple[io.StringIO, TextOutput]:
    stream = io.StringIO()
    output = TextOutput(stream, me=me)
    output.ready(me, PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    stream.seek(0)
    stream.truncate()
    return stream, output
