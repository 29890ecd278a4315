"""``chinwag-cli --json``: one JSON event per line (see README, "chinwag-cli --json")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from chinwag.adapters.console.output import ReadyGate, message_fields
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress


class JsonOutput(ReadyGate):
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
