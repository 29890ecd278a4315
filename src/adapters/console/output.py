"""What the terminal client prints: the ``ChatEvents`` port plus answers to commands.

:class:`JsonOutput` writes one JSON object per line, flushed at once (for scripts and tests);
:class:`TextOutput` writes lines for people. Both write to stdout only; logs go to stderr.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO
from uuid import UUID

from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress


class ConsoleOutput(Protocol):
    """The events port, and the answers the console commands print."""

    def message_received(self, message: Message) -> None: ...
    def message_state_changed(self, message: Message) -> None: ...
    def presence_changed(self, online: frozenset[str]) -> None: ...
    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None: ...
    def error(self, code: str, text: str) -> None: ...
    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None: ...
    def identity_trusted(self, name: str, key: bytes) -> None: ...
    def message_request(self, name: str) -> None: ...
    def ready(self, user: str, listen: PeerAddress, fingerprint: str) -> None: ...
    def whoami(self, user: str, fingerprint: str) -> None: ...
    def safety_number(self, name: str, number: str, fingerprint: str, verified: bool) -> None: ...
    def online(self, online: Sequence[str]) -> None: ...
    def history(self, with_user: str, messages: Sequence[Message]) -> None: ...
    def search(self, text: str, messages: Sequence[Message]) -> None: ...
    def info(self, text: str) -> None: ...


def message_fields(message: Message) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": str(message.id),
        "from": message.sender,
        "to": message.recipient,
        "body": message.body,
        "sent_at": message.sent_at.isoformat(),
        "state": message.state.value,
    }
    if message.reason:
        fields["reason"] = message.reason
    return fields


class _ReadyGate:
    """Holds what the network reports during sign-in until ``ready`` is out, so that ``ready``
    always comes first; refusals are never held."""

    def __init__(self) -> None:
        self._held: list[Callable[[], None]] | None = []

    def _after_ready(self, show: Callable[[], None]) -> None:
        if self._held is None:
            show()
        else:
            self._held.append(show)

    def _release(self) -> None:
        held, self._held = self._held or [], None
        for show in held:
            show()


class JsonOutput(_ReadyGate):
    """One JSON event per line (see README, "chinwag-cli --json")."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def _emit(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
        self._stream.flush()

    def message_received(self, message: Message) -> None:
        self._after_ready(lambda: self._emit("message", **message_fields(message)))

    def message_state_changed(self, message: Message) -> None:
        fields: dict[str, Any] = {
            "id": str(message.id),
            "to": message.recipient,
            "state": message.state.value,
        }
        if message.state is MessageState.FAILED:
            fields["reason"] = message.reason or "unknown"
        elif message.state is MessageState.QUEUED and message.reason:
            fields["reason"] = message.reason
        self._after_ready(lambda: self._emit("status", **fields))

    def presence_changed(self, online: frozenset[str]) -> None:
        self._after_ready(lambda: self.online(sorted(online)))

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self._after_ready(lambda: self._emit("registry", status=status.value, detail=detail))

    def error(self, code: str, text: str) -> None:
        self._emit("error", code=code, message=text)

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        fields: dict[str, Any] = {
            "with": name,
            "state": "changed",
            "fingerprint": fingerprint(key),
            "previous": fingerprint(previous),
        }
        if verified:
            fields["verified"] = True
        self._after_ready(lambda: self._emit("identity", **fields))

    def message_request(self, name: str) -> None:
        self._after_ready(lambda: self._emit("message_request", **{"from": name}))

    def identity_trusted(self, name: str, key: bytes) -> None:
        fields = {"with": name, "state": "trusted", "fingerprint": fingerprint(key)}
        self._after_ready(lambda: self._emit("identity", **fields))

    def ready(self, user: str, listen: PeerAddress, fingerprint: str) -> None:
        self._emit("ready", user=user, listen=str(listen), fingerprint=fingerprint)
        self._release()

    def whoami(self, user: str, fingerprint: str) -> None:
        self._emit("whoami", user=user, fingerprint=fingerprint)

    def safety_number(self, name: str, number: str, fingerprint: str, verified: bool) -> None:
        self._emit(
            "safety_number",
            **{"with": name},
            number=number,
            fingerprint=fingerprint,
            verified=verified,
        )

    def online(self, online: Sequence[str]) -> None:
        self._emit("presence", online=list(online))

    def history(self, with_user: str, messages: Sequence[Message]) -> None:
        self._emit("history", **{"with": with_user}, messages=[message_fields(m) for m in messages])

    def search(self, text: str, messages: Sequence[Message]) -> None:
        self._emit("search", text=text, messages=[message_fields(m) for m in messages])

    def info(self, text: str) -> None:
        self._emit("info", message=text)


class TextOutput(_ReadyGate):
    """Readable lines for a person at a terminal."""

    def __init__(self, stream: TextIO, me: str = "") -> None:
        super().__init__()
        self._stream = stream
        self.me = me
        self._online: frozenset[str] | None = None
        self._waiting: dict[UUID, str] = {}  # why each message waits, as last said

    def _line(self, text: str) -> None:
        self._stream.write(terminal_safe(text) + "\n")
        self._stream.flush()

    def _format(self, message: Message) -> str:
        when = _local_time(message.sent_at)
        who = "you" if message.sender == self.me else message.sender
        arrow = f" → {message.recipient}" if message.sender == self.me else ""
        body = message.body.replace("\n", "\n        ")
        return f"[{when}] {who}{arrow}: {body}"

    def message_received(self, message: Message) -> None:
        self._after_ready(lambda: self._line(self._format(message)))

    def message_state_changed(self, message: Message) -> None:
        if message.state is MessageState.DELIVERED:
            self._after_ready(lambda: self._line(f"        ✓ delivered to {message.recipient}"))
        elif message.state is MessageState.FAILED:
            text = f"        ✗ not delivered to {message.recipient}: {one_line(message.reason)}"
            self._after_ready(lambda: self._line(text))
        elif message.state is MessageState.QUEUED:
            why = _QUEUED_REASONS.get(message.reason or "", one_line(message.reason)) or (
                f"{message.recipient} is offline"
            )
            if self._waiting.get(message.id) == why:
                return  # said already: each retry is not news
            self._waiting[message.id] = why
            text = f"        ⧗ waiting ({why}); it goes out when they are reachable"
            self._after_ready(lambda: self._line(text))
            return
        if message.state in (MessageState.DELIVERED, MessageState.FAILED):
            self._waiting.pop(message.id, None)

    def presence_changed(self, online: frozenset[str]) -> None:
        self._after_ready(lambda: self._presence(online))

    def _presence(self, online: frozenset[str]) -> None:
        """The whole list the first time, then who came and who went."""
        before, self._online = self._online, online
        if before is None:
            self.online(sorted(online))
            return
        for name in sorted(online - before - {self.me}):
            self._line(f"* {name} is online")
        for name in sorted(before - online - {self.me}):
            self._line(f"* {name} went offline")

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self._after_ready(lambda: self._line(f"* registry {status.value}: {one_line(detail)}"))

    def error(self, code: str, text: str) -> None:
        self._line(f"! {one_line(text)} ({one_line(code)})")

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        self._after_ready(lambda: self._key_changed(name, key, previous, verified))

    def _key_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        loud = "!!! " if verified else "! "
        self._line(
            f"{loud}{name}'s key changed: it was {fingerprint(previous)}, it is now "
            f"{fingerprint(key)}. Nothing goes to or comes from {name} until you accept it. "
            "Make sure it is really them (ask them in person or on another channel), then "
            + (
                f"/verify {name} with the safety number they read you."
                if verified
                else f"/trust {name} {fingerprint(key)}"
            )
        )

    def message_request(self, name: str) -> None:
        self._after_ready(
            lambda: self._line(
                f"* message request from {name}: you have not written to them yet. Their "
                f"messages are shown; write back (/msg {name} …) to accept them as a contact."
            )
        )

    def identity_trusted(self, name: str, key: bytes) -> None:
        text = f"* {name}'s key {fingerprint(key)} is trusted; what waited goes out now"
        self._after_ready(lambda: self._line(text))

    def ready(self, user: str, listen: PeerAddress, fingerprint: str) -> None:
        self.me = user
        self._line(f"* signed in as {user}, accepting peers on {listen}. Type /help for commands.")
        self._line(f"* your key's fingerprint: {fingerprint}")
        self._release()

    def whoami(self, user: str, fingerprint: str) -> None:
        self._line(f"* you are {user}; your key's fingerprint: {fingerprint}")

    def safety_number(self, name: str, number: str, fingerprint: str, verified: bool) -> None:
        state = "verified" if verified else "not verified"
        self._line(f"* safety number with {name} ({state}):")
        self._line(f"    {number}")
        self._line(f"  {name}'s key: {fingerprint}")
        if not verified:
            self._line(
                f"  Compare it with {name} (in person, or a call): if it is the same on both "
                f"sides, type /verify {name} followed by the number."
            )

    def online(self, online: Sequence[str]) -> None:
        others = [name for name in online if name != self.me]
        self._line("* online: " + (", ".join(others) if others else "nobody else yet"))

    def history(self, with_user: str, messages: Sequence[Message]) -> None:
        if not messages:
            self._line(f"* no history with {with_user}")
        for message in messages:
            self._line(self._format(message))

    def search(self, text: str, messages: Sequence[Message]) -> None:
        self._line(f"* {len(messages)} message(s) match {text!r}")
        for message in messages:
            self._line(self._format(message))

    def info(self, text: str) -> None:
        self._line(text)


_QUEUED_REASONS = {
    "identity_changed": "a key changed: nothing moves until the new key is accepted",
    "over_quota": "the recipient takes no more from you for now",
    "unverified": "the recipient cannot check your key with the registry now",
}


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def one_line(text: str | None) -> str:
    """``text`` for a field shown on one line: its newlines visible as ``\\n``, so text from a
    peer (a refusal's reason) cannot start a line that looks like a message."""
    return (text or "").replace("\r", "\\r").replace("\n", "\\n")


def terminal_safe(text: str) -> str:
    """``text`` with what a terminal would obey shown instead: escape sequences (which can
    clear the screen, retitle the window or write the clipboard), other control characters and
    bidi overrides become visible ``\\xNN``/``\\uNNNN``; newlines and tabs stay."""
    return "".join(
        ch
        if ch in "\n\t" or (ch not in _BIDI_CONTROLS and unicodedata.category(ch) != "Cc")
        else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in text
    )


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")
