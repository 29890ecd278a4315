"""``chinwag-cli --json``: one JSON event per line (see README, "chinwag-cli --json").

Three rules beyond the shape of each event:

- **refs**: an event that answers a command, or follows it, carries that command's ``ref``:
  answers through :meth:`JsonOutput.answering`, and every ``status`` event of a message through
  the id the message was bound to when its ``send`` ran (:meth:`JsonOutput.begin_sends`).
- **one status event per state per message**: a state already printed for a message is not
  printed again (a message whose connection dropped is sent again without new ``pending`` and
  ``sent`` events), except ``queued`` when its reason changed.
- **valid JSON, valid UTF-8, one event per line**: no ``NaN`` (refused when read; never
  written), a lone surrogate (which a peer's text could hold) goes out as its ``\\uXXXX``
  escape, and U+2028, U+2029 and U+0085 are escaped too, so a reader that splits lines on
  them (JavaScript, Python's ``str.splitlines``) still sees one event per line.
- **never block the loop**: with a :class:`ThreadWriter`, events are gathered and handed to the
  writer thread once per pass of the event loop (or every 64 KiB). The JSON session stops taking
  commands while more than :data:`HIGH_WATER` bytes wait to be written, so answers stay bounded;
  events nobody asked for (messages, states, presence) are dropped past :data:`HARD_LIMIT`, and
  once the reader has caught up, one ``overflow`` event says how many and that the messages
  are in the history (nothing received is ever lost: it was committed before it was shown).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TextIO
from uuid import UUID

from chinwag.adapters.console.json_commands import NO_REF, Ref
from chinwag.adapters.console.json_io import ThreadWriter
from chinwag.adapters.console.output import ReadyGate, message_fields
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress

log = logging.getLogger(__name__)

HIGH_WATER: Final = 1 << 20
"""Bytes waiting for the reader past which no further command is taken."""
LOW_WATER: Final = 1 << 18
"""...until no more than this many wait."""
HARD_LIMIT: Final = 16 << 20
"""Bytes waiting past which events nobody asked for are dropped (and counted)."""
FLUSH_SIZE: Final = 1 << 16

_LINE_BREAKS: Final = re.compile("[\u0085\u2028\u2029]")
"""Characters some readers take for the end of a line: escaped in strings (JSON allows it)."""
_NOT_JSON: Final = (
    '{"event": "error", "code": "internal", "message": "an event could not be written as JSON"}'
)

_ANSWERING: contextvars.ContextVar[Any] = contextvars.ContextVar("answering", default=NO_REF)
_TERMINAL: Final = frozenset({MessageState.DELIVERED, MessageState.FAILED})
_ROUTED: Final = frozenset({MessageState.SENT, MessageState.DELIVERED})
"""States whose status event says the path (``direct`` or ``relayed``) when it is known."""


class JsonOutput(ReadyGate):
    """One JSON event per line, written at once to ``stream`` or through a ``writer``."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        writer: ThreadWriter | None = None,
        limits: tuple[int, int, int] = (LOW_WATER, HIGH_WATER, HARD_LIMIT),
    ) -> None:
        super().__init__()
        if (stream is None) == (writer is None):
            raise ValueError("give a stream or a writer")
        self._stream = stream
        self._writer = writer
        self._low, self._high, self._hard = limits
        self._lines: list[str] = []
        self._size = 0
        self._flushing = False
        self._refs: dict[UUID, Any] = {}
        """The ``ref`` of each message's ``send`` (a :class:`Ref`, its JSON text: small; NO_REF if
        it had none), until it settles."""
        self._said: dict[UUID, int] = {}
        """The states printed for each message not yet settled (a bit per state)."""
        self._queued_reason: dict[UUID, str | None] = {}
        self._sends = 0
        self._unbound: list[dict[str, Any]] = []
        """Status events of messages not yet bound to a send, while sends run."""
        self._dropped = 0
        self._dropped_messages = 0
        self._telling: asyncio.Future[None] | None = None
        self._leaving = False

    # -- writing ----------------------------------------------------------------------------

    def _emit(self, fields: dict[str, Any], asked: bool = True) -> None:
        line = _line(fields)
        if self._writer is None:
            assert self._stream is not None
            self._stream.write(line.encode("utf-8", "backslashreplace").decode("utf-8"))
            self._stream.flush()
            return
        if not asked and self._writer.backlog + self._size > self._hard:
            self._drop(fields)
            return
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_SIZE:
            self.flush()
        elif not self._flushing:
            self._flushing = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (yet, or any more): write now
                self.flush()

    def flush(self) -> None:
        """Hand what is gathered to the writer."""
        self._flushing = False
        if self._lines and self._writer is not None:
            # A lone surrogate (only ever inside a string) becomes its JSON escape, "\\ud800".
            data = "".join(self._lines).encode("utf-8", "backslashreplace")
            self._lines.clear()
            self._size = 0
            self._writer.write(data)

    async def room(self) -> None:
        """Wait while the reader lags more than the high-water mark (until the low one)."""
        if self._writer is not None and self._writer.backlog > self._high:
            await self._writer.below(self._low)

    async def close(self) -> None:
        """Write out what is left (see :meth:`ThreadWriter.close`)."""
        self.flush()
        if self._writer is not None:
            await self._writer.close()

    def _drop(self, fields: dict[str, Any]) -> None:
        if not self._dropped:
            self._telling = asyncio.ensure_future(self._tell_dropped())
        self._dropped += 1
        self._dropped_messages += fields["event"] == "message"

    async def _tell_dropped(self) -> None:
        assert self._writer is not None
        await self._writer.below(self._low)
        dropped, messages = self._dropped, self._dropped_messages
        self._dropped = self._dropped_messages = 0
        self._emit(
            {
                "event": "overflow",
                "dropped": dropped,
                "messages": messages,
                "message": f"stdout was not read: {dropped} events were left out, "
                f"{messages} of them received messages (they are in the history: "
                'ask with {"cmd": "history", ...})',
            }
        )

    # -- refs -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def answering(self, ref: Any) -> Iterator[None]:
        """Answers and refusals printed by this task until the block ends carry ``ref``."""
        token = _ANSWERING.set(ref)
        try:
            yield
        finally:
            _ANSWERING.reset(token)

    def begin_sends(self) -> None:
        """Sends are running: states of messages not bound yet wait for :meth:`end_sends`."""
        self._sends += 1

    def end_sends(self, bound: Iterable[tuple[UUID, Any]]) -> None:
        """Bind each message id to its send's ``ref``, then print what waited for that."""
        for message_id, ref in bound:
            self._refs[message_id] = ref
        self._sends -= 1
        if not self._sends:
            held, self._unbound = self._unbound, []
            for fields in held:
                self._status(fields)

    def _answer(self, fields: dict[str, Any], ref: Any = NO_REF) -> None:
        if ref is NO_REF:
            ref = _ANSWERING.get()
        if ref is not NO_REF:
            fields["ref"] = ref
        self._emit(fields)

    # -- the events port --------------------------------------------------------------------

    def message_received(self, message: Message) -> None:
        fields = {"event": "message", **message_fields(message)}
        self._after_ready(lambda: self._emit(fields, False))

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        if not self._first_time(message):
            return
        fields: dict[str, Any] = {
            "event": "status",
            "id": str(message.id),
            "to": message.recipient,
            "state": message.state.value,
        }
        if route is not None and message.state in _ROUTED:
            fields["path"] = route.value
        if message.state is MessageState.FAILED:
            fields["reason"] = message.reason or "unknown"
        elif message.state is MessageState.QUEUED and message.reason:
            fields["reason"] = message.reason
        key = message.id
        if self._sends and key not in self._refs:
            self._unbound.append(fields | {"key": key})
        else:
            self._after_ready(lambda: self._status(fields | {"key": key}))

    def _first_time(self, message: Message) -> bool:
        """Whether this state (or this reason to be queued) is news for this message."""
        key, state = message.id, message.state
        if state is MessageState.QUEUED:
            if key in self._queued_reason and self._queued_reason[key] == message.reason:
                return False
            self._queued_reason[key] = message.reason
            return True
        bit = 1 << _STATE_BITS[state]
        said = self._said.get(key, 0)
        if said & bit:
            return False
        if state in _TERMINAL:
            self._said.pop(key, None)
            self._queued_reason.pop(key, None)
        else:
            self._said[key] = said | bit
        return True

    def _status(self, fields: dict[str, Any]) -> None:
        key: UUID = fields.pop("key")
        if fields["state"] in ("delivered", "failed"):
            ref = self._refs.pop(key, NO_REF)
        else:
            ref = self._refs.get(key, NO_REF)
        if ref is not NO_REF:
            fields["ref"] = ref
        self._emit(fields, False)

    def leaving(self) -> None:
        """The session ended (``quit``, end of input, a signal): signing out empties the online
        list and disconnects the registry, which is no news about anyone (an empty ``presence``
        reads as "everyone went offline"), so neither is emitted from now on."""
        self._leaving = True

    def presence_changed(self, online: frozenset[str]) -> None:
        if self._leaving:
            return
        names = sorted(online)
        self._after_ready(lambda: self._emit({"event": "presence", "online": names}, False))

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        if self._leaving:
            return
        fields = {"event": "registry", "status": status.value, "detail": detail}
        self._after_ready(lambda: self._emit(fields, False))

    def error(self, code: str, text: str, ref: Any = NO_REF) -> None:
        self._answer({"event": "error", "code": code, "message": text}, ref)

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        fields: dict[str, Any] = {
            "event": "identity",
            "with": name,
            "state": "changed",
            "fingerprint": fingerprint(key),
            "previous": fingerprint(previous),
        }
        if verified:
            fields["verified"] = True
        self._after_ready(lambda: self._emit(fields, False))

    def message_request(self, name: str) -> None:
        self._after_ready(lambda: self._emit({"event": "message_request", "from": name}, False))

    def identity_trusted(self, name: str, key: bytes) -> None:
        fields = {"event": "identity", "with": name, "state": "trusted"}
        fields["fingerprint"] = fingerprint(key)
        ref = _ANSWERING.get()  # the answer to `trust` (or `verify`), if one is running
        self._after_ready(lambda: self._answer(fields, ref))

    def ready(self, user: str, listen: PeerAddress | None, fingerprint: str) -> None:
        where = str(listen) if listen is not None else None
        self._emit({"event": "ready", "user": user, "listen": where, "fingerprint": fingerprint})
        self._release()

    def whoami(self, user: str, fingerprint: str) -> None:
        self._answer({"event": "whoami", "user": user, "fingerprint": fingerprint})

    def safety_number(self, name: str, number: str, fingerprint: str, verified: bool) -> None:
        self._answer(
            {
                "event": "safety_number",
                "with": name,
                "number": number,
                "fingerprint": fingerprint,
                "verified": verified,
            }
        )

    def online(self, online: Sequence[str]) -> None:
        self._answer({"event": "presence", "online": list(online)})

    def history(self, with_user: str, messages: Sequence[Message]) -> None:
        fields = {"event": "history", "with": with_user}
        self._answer(fields | {"messages": [message_fields(m) for m in messages]})

    def search(self, text: str, messages: Sequence[Message]) -> None:
        fields = {"event": "search", "text": text}
        self._answer(fields | {"messages": [message_fields(m) for m in messages]})

    def info(self, text: str) -> None:
        self._answer({"event": "info", "message": text})

    def doctor_self(self, report: SelfReport) -> None:
        self._answer(
            {
                "event": "doctor",
                "registry": report.registry.value,
                "listen": None if report.listen is None else str(report.listen),
                "reachable": report.reachable,
                "cause": report.cause.value,
                "reason": report.reason,
            }
        )

    def doctor_peer(self, report: PeerReport) -> None:
        fields: dict[str, Any] = {
            "event": "doctor",
            "with": report.name,
            "path": report.path,
            "cause": report.cause.value,
            "reason": report.reason,
            "rtt_ms": report.rtt_ms,
        }
        if report.since is not None:
            fields["since"] = report.since.isoformat()
        self._answer(fields)


_STATE_BITS: Final = {state: index for index, state in enumerate(MessageState)}


def _line(fields: dict[str, Any]) -> str:
    """One event as a line of JSON; its ``ref`` (a :class:`Ref`) spliced in as the text it
    already is. Never ``NaN``: a value JSON cannot hold is logged and said as an error."""
    ref = fields.pop("ref", None)
    try:
        text = json.dumps(fields, ensure_ascii=False, allow_nan=False)
    except ValueError:
        log.exception("an event could not be written as JSON: %r", fields)
        text = _NOT_JSON
    if isinstance(ref, Ref):
        text = f'{text[:-1]}, "ref": {ref.json}}}'
    if _LINE_BREAKS.search(text):
        text = _LINE_BREAKS.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
    return text + "\n"
