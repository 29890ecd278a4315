"""``chinwag-cli --json``: one JSON event per line (see README, "chinwag-cli --json").

Rules beyond the shape of each event (how lines are written, valid and never blocking the
loop, is :mod:`json_lines`'s part):

- **refs**: an event that answers a command, or follows it, carries that command's ``ref``:
  answers through :meth:`JsonOutput.answering`, and every ``status`` event of a message through
  the id the message was bound to when its ``send`` ran (:meth:`JsonOutput.begin_sends`).
- **one status event per state per message**: a state already printed for a message is not
  printed again (a message whose connection dropped is sent again without new ``pending`` and
  ``sent`` events), except ``queued`` when its reason changed. A group message has status
  events of its own (its summary: ``"group"``, no ``"to"``) and per member it goes to
  (``"group"`` and ``"to": MEMBER``), each under the same rule.
- **withdrawn is never dropped**: of the events nobody asked for, only ``withdrawn`` is kept
  when stdout lags (:mod:`json_lines` drops the others): it is the one trace of a received
  message leaving the history, which ``overflow`` cannot point to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, Final, Literal, TextIO
from uuid import UUID

from chinwag.adapters.console.json_answers import (
    ANSWERING,
    Answering,
    answering_now,
    answering_ref,
)
from chinwag.adapters.console.json_commands import NO_REF
from chinwag.adapters.console.json_files import transfer_fields
from chinwag.adapters.console.json_io import ThreadWriter
from chinwag.adapters.console.json_lines import HARD_LIMIT, HIGH_WATER, LOW_WATER, JsonLines
from chinwag.adapters.console.output import ReadyGate, message_fields
from chinwag.application.files.status import TransferStatus
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.group_log import GroupState
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.transfer import Transfer
from chinwag.domain.user import PeerAddress

_TERMINAL: Final = frozenset({MessageState.DELIVERED, MessageState.FAILED})
_ROUTED: Final = frozenset({MessageState.SENT, MessageState.DELIVERED})
"""States whose status event says the path (``direct`` or ``relayed``) when it is known."""

_Key = UUID | tuple[UUID, str]
"""Whose states are printed once each: a message's (a group message's summary), or a group
message's delivery to one member."""


class JsonOutput(JsonLines, ReadyGate):
    """One JSON event per line, written at once to ``stream`` or through a ``writer``."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        writer: ThreadWriter | None = None,
        limits: tuple[int, int, int] = (LOW_WATER, HIGH_WATER, HARD_LIMIT),
    ) -> None:
        ReadyGate.__init__(self)
        JsonLines.__init__(self, stream, writer=writer, limits=limits)
        self._refs: dict[UUID, Any] = {}
        """The ``ref`` of each message's ``send`` (a :class:`Ref`, its JSON text: small; NO_REF if
        it had none), until it settles."""
        self._said: dict[_Key, int] = {}
        """The states printed for each message (or a group message's delivery to a member)
        not yet settled (a bit per state)."""
        self._queued_reason: dict[_Key, str | None] = {}
        self._sends = 0
        self._unbound: list[dict[str, Any]] = []
        """Status events of messages not yet bound to a send, while sends run."""
        self._leaving = False

    # -- refs -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def answering(self, ref: Any) -> Iterator[None]:
        """Answers and refusals printed by this task until the block ends carry ``ref``."""
        answering = Answering(ref)
        token = ANSWERING.set(answering)
        try:
            yield
        finally:
            answering.open = False
            ANSWERING.reset(token)

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
            ref = answering_ref()
        if ref is not NO_REF:
            fields["ref"] = ref
        self._emit(fields)

    # -- the events port --------------------------------------------------------------------

    def message_received(self, message: Message) -> None:
        fields = {"event": "message", **message_fields(message)}
        self._after_ready(lambda: self._emit(fields, False))

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        """A direct message's state (``"to"``: its recipient), or a group message's summary
        (``"group"``, no ``"to"``)."""
        if message.group_id is None:
            self._state(message, message.id, {"to": message.recipient}, route)
        else:
            self._state(message, message.id, {"group": str(message.group_id)}, route)

    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None:
        """A group message's delivery to one member: ``"group"`` and ``"to": MEMBER``."""
        where = {"group": str(message.group_id), "to": recipient}
        self._state(message, (message.id, recipient), where, route)

    def _state(
        self, message: Message, key: _Key, where: dict[str, Any], route: Route | None
    ) -> None:
        """Print a ``status`` event for ``key`` (a message, or a delivery) if it is news,
        with the ref of the message's ``send``."""
        if not self._first_time(key, message):
            return
        fields: dict[str, Any] = {"event": "status", "id": str(message.id)}
        fields |= where
        fields["state"] = message.state.value
        if route is not None and message.state in _ROUTED:
            fields["path"] = route.value
        if message.state is MessageState.FAILED:
            fields["reason"] = message.reason or "unknown"
        elif message.state is MessageState.QUEUED and message.reason:
            fields["reason"] = message.reason
        # The ref is let go with the message's own last state (a group message's summary is
        # settled after each of its deliveries), not with a delivery's.
        held = {"key": message.id, "last": key == message.id}
        if self._sends and message.id not in self._refs:
            self._unbound.append(fields | held)
        else:
            self._after_ready(lambda: self._status(fields | held))

    def _first_time(self, key: _Key, message: Message) -> bool:
        """Whether this state (or this reason to be queued) is news for this message (or
        this delivery of a group message)."""
        state = message.state
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
        last: bool = fields.pop("last")
        if last and fields["state"] in ("delivered", "failed"):
            ref = self._refs.pop(key, NO_REF)
        else:
            ref = self._refs.get(key, NO_REF)
        if ref is not NO_REF:
            fields["ref"] = ref
        self._emit(fields, False)

    def group_changed(self, group: GroupState, left: bool) -> None:
        """``{"event": "group", ...}``: members in order of seniority, admins sorted; the
        answer to the command that made the change, if one is running."""
        fields: dict[str, Any] = {"event": "group", **group_fields(group)}
        if left:
            fields["left"] = True
        ref = answering_ref()
        self._after_ready(lambda: self._answer(fields, ref))

    def message_withdrawn(self, message: Message, reason: str) -> None:
        """``{"event": "withdrawn", ...}``: a received group message left the history. Not an
        answer (no ``ref``), held until ``ready`` like a ``message`` event, but never dropped
        when stdout lags: the ``overflow`` event says dropped messages are in the history, so
        a reader that missed this would keep a message no member has any more."""
        fields = {
            "event": "withdrawn",
            "id": str(message.id),
            "group": None if message.group_id is None else str(message.group_id),
            "from": message.sender,
            "reason": reason,
        }
        self._after_ready(lambda: self._emit(fields))

    def transfer_changed(self, transfer: Transfer, rate: float) -> None:
        """``{"event": "transfer", ...}``, each one the application reports. One that a file
        command's own change caused is that command's answer (with its ``ref``). Progress and
        other news nobody asked for may be left out when stdout lags, but not a transfer's end
        (``transfers`` lists them all again in any case)."""
        fields = {"event": "transfer", **transfer_fields(transfer, rate)}
        answering = answering_now()
        if answering is not None:
            answering.transfers.add((transfer.id, transfer.peer))
            ref = answering.ref
            self._after_ready(lambda: self._answer(fields, ref))
        else:
            self._after_ready(lambda: self._emit(fields, transfer.final))

    def transfer(self, transfer: Transfer) -> None:
        """The answer to a file command, unless the change it made was just told (with the
        command's ``ref``) by :meth:`transfer_changed`."""
        answering = answering_now()
        if answering is not None and (transfer.id, transfer.peer) in answering.transfers:
            return
        self._answer({"event": "transfer", **transfer_fields(transfer, 0.0)})

    def transfers(self, statuses: list[TransferStatus]) -> None:
        listed = [transfer_fields(status.transfer, status.rate) for status in statuses]
        self._answer({"event": "transfers", "transfers": listed})

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
        ref = answering_ref()  # the answer to `trust` (or `verify`), if one is running
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

    def found_online(self, prefix: str, names: Sequence[str], limit: int) -> None:
        """``{"event": "online", "prefix": TEXT, "names": [...]}``: the answer to ``who`` with
        a prefix (the prefix as given, the names sorted)."""
        self._answer({"event": "online", "prefix": prefix, "names": list(names)})

    def watching(
        self, cmd: Literal["watch", "unwatch"], names: Sequence[str], watched: Collection[str]
    ) -> None:
        """``{"event": "watching", "names": [...]}``: the answer to ``watch`` and ``unwatch``,
        the whole watch list after the change, sorted (the people watched without asking
        too). A ``presence`` event follows, unasked, if who is online among them changed."""
        self._answer({"event": "watching", "names": sorted(watched)})

    def history(self, with_user: str, messages: Sequence[Message]) -> None:
        fields = {"event": "history", "with": with_user}
        self._answer(fields | {"messages": [message_fields(m) for m in messages]})

    def group_history(self, group: UUID, messages: Sequence[Message]) -> None:
        fields = {"event": "history", "group": str(group)}
        self._answer(fields | {"messages": [message_fields(m) for m in messages]})

    def groups(self, groups: Sequence[tuple[GroupState, bool]]) -> None:
        self._answer(
            {
                "event": "groups",
                "groups": [
                    group_fields(g) | ({"left": True} if left else {}) for g, left in groups
                ],
            }
        )

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


def group_fields(group: GroupState) -> dict[str, Any]:
    """A group object of the JSON events: members in order of seniority, admins sorted."""
    return {
        "id": str(group.id),
        "name": group.name,
        "members": list(group.names),
        "admins": sorted(group.admins),
        "version": group.version,
    }
