"""``chinwag-cli`` for people: readable lines at a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Literal, Protocol, TextIO
from uuid import UUID

from chinwag.adapters.console.group_names import short_id
from chinwag.adapters.console.output import ReadyGate, one_line
from chinwag.adapters.console.text_states import Later, StateLines, quote
from chinwag.adapters.console.text_transfers import TransferLines, file_summary
from chinwag.adapters.excerpt import excerpt
from chinwag.adapters.safe_text import terminal_safe
from chinwag.application.doctor import Cause, round_trip, shown
from chinwag.application.doctor_self import reachable_words
from chinwag.application.files.status import TransferStatus
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.filename import safe_filename
from chinwag.domain.group_log import GroupState
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer
from chinwag.domain.user import PeerAddress

CONTINUATION = " " * 8
"""What the second and later lines of a message are indented by, below its ``[12:00] bob: ``."""


def indented(text: str) -> str:
    """``text`` with its second and later lines indented as a message's are: a multi-line body
    reads as one message, and none of its lines looks like a line of ours."""
    return text.replace("\n", "\n" + CONTINUATION)


class Sink(Protocol):
    """Where lines go: a text stream, or one that prints above the line being typed."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class TextOutput(ReadyGate):
    """Readable lines for a person at a terminal."""

    def __init__(
        self,
        stream: TextIO,
        me: str = "",
        *,
        later: Later | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.terminal = stream
        """Where this output was made to write (a terminal, a pipe): the session asks it
        whether it is a terminal."""
        self._stream: Sink = stream
        self.me = me
        self._online: frozenset[str] | None = None
        self._names: set[str] = set()
        self._leaving = False
        self._states = StateLines(self._write, later=later)
        self._incoming: Callable[[str], None] | None = None
        self._groups: dict[UUID, GroupState] = {}
        """The groups told of so far (``group_changed``), to name them and say what changed."""
        self._transfers = TransferLines(self._line, self._group_name, clock)

    def on_incoming(self, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with the sender of every message received from someone else (the
        session makes them the conversation if there is none)."""
        self._incoming = callback

    def print_to(self, stream: Sink | None) -> None:
        """Write to ``stream`` from now on (``None``: the stream it was made with again).

        The terminal session passes a stream that prints above the line being typed."""
        self._states.flush()
        self._stream = self.terminal if stream is None else stream

    def names(self) -> list[str]:
        """Everyone this session has heard of (online, written to or from, or remembered), for
        completion; not the user."""
        return sorted(self._names - {self.me})

    def remember(self, names: Iterable[str]) -> None:
        """Add people to :meth:`names` (the people of past conversations, at start)."""
        self._names.update(names)

    def leaving(self) -> None:
        """The user quits: signing out empties the online list, which is no news about anyone,
        so presence and the registry's goodbye are no longer printed."""
        self._leaving = True
        self._states.ungrouped()
        self._line("* signing out…")

    def _line(self, text: str) -> None:
        self._states.flush()  # a state line being grouped came first
        self._write(text)

    def _write(self, text: str) -> None:
        self._stream.write(terminal_safe(text) + "\n")
        self._stream.flush()

    def _format(self, message: Message, body: str | None = None) -> str:
        """``[12:00] bob: body`` (``body``: the message's own, unless given); a group
        message names its group: ``[12:00] bob → Friends: body``."""
        when = _local_time(message.sent_at)
        who = "you" if message.sender == self.me else message.sender
        if message.group_id is not None:
            arrow = f" → {self._group_name(message.group_id)}"
        else:
            arrow = f" → {message.recipient}" if message.sender == self.me else ""
        if body is None and message.file is not None:  # a file offer: what, not its text
            name = message.file.name if message.sender == self.me else None
            body = f"[file] {file_summary(name or safe_filename(message.file.name), message.file)}"
        return f"[{when}] {who}{arrow}: {indented(message.body if body is None else body)}"

    def _group_name(self, group: UUID) -> str:
        """The group's name as last told, or the start of its id if none was."""
        known = self._groups.get(group)
        return known.name if known is not None else f"group {str(group)[:8]}"

    def message_received(self, message: Message) -> None:
        self._names.add(message.sender)
        # A group message does not make its author the conversation: plain lines would go to
        # them alone.
        if self._incoming is not None and message.sender != self.me and message.group_id is None:
            self._incoming(message.sender)
        if message.file is not None and message.sender != self.me:
            self._after_ready(lambda: self._transfers.offered(message))
            return
        self._after_ready(lambda: self._line(self._format(message)))

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        if message.group_id is not None:
            group = self._group_name(message.group_id)
            self._after_ready(lambda: self._states.group_changed(message, group))
            return
        if message.recipient is not None:
            self._names.add(message.recipient)
        self._after_ready(lambda: self._states.changed(message))

    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None:
        """Only a failure is said: the group message's summary says the rest."""
        group = self._group_name(message.group_id) if message.group_id else ""
        self._after_ready(lambda: self._states.delivery_changed(message, recipient, group))

    def group_changed(self, group: GroupState, left: bool) -> None:
        """What changed since the group was last told of, a line each (who made a change is
        not told, only its outcome)."""
        before = self._groups.get(group.id)
        self._groups[group.id] = group
        self._names.update(group.names)
        lines = _group_lines(before, group, left)

        def show() -> None:
            for line in lines:
                self._line(line)

        self._after_ready(show)

    def transfer_changed(self, transfer: Transfer, rate: float) -> None:
        """A line when the transfer's state changes; progress at most every few seconds."""
        if transfer.peer:
            self._names.add(transfer.peer)
        self._after_ready(lambda: self._transfers.changed(transfer, rate))

    def transfer(self, transfer: Transfer) -> None:
        self._transfers.answered(transfer)

    def transfers(self, statuses: list[TransferStatus]) -> None:
        for line in self._transfers.listing(statuses):
            self._line(line)

    def message_withdrawn(self, message: Message, reason: str) -> None:
        """One line: whose message, where, why, and the start of it (the history no longer
        has it, so this line is the only trace of what was shown)."""
        where = self._group_name(message.group_id) if message.group_id else "a group"
        text = (
            f"* {message.sender}'s message in {where} was withdrawn ({one_line(reason)}): "
            f"{quote(message.body)}"
        )
        self._after_ready(lambda: self._line(text))

    def presence_changed(self, online: frozenset[str]) -> None:
        self._after_ready(lambda: self._presence(online))

    def _presence(self, online: frozenset[str]) -> None:
        """The whole list the first time, then who came and who went."""
        if self._leaving:
            return
        self._names.update(online)
        before, self._online = self._online, online
        if before is None:
            self.online(sorted(online))
            return
        for name in sorted(online - before - {self.me}):
            self._line(f"* {name} is online")
        for name in sorted(before - online - {self.me}):
            self._line(f"* {name} went offline")

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        if status is RegistryStatus.CONNECTED and self._held is not None:
            return  # connecting as part of signing in: "signed in" says it
        if not self._leaving:
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

    def ready(self, user: str, listen: PeerAddress | None, fingerprint: str) -> None:
        self.me = user
        where = (
            f"accepting peers on {shown(listen)}"
            if listen is not None
            else "accepting no connections (peers can reach you only through the registry's "
            "relay, if it relays: /doctor says)"
        )
        self._line(f"* signed in as {user}, {where}. Type /help for commands.")
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

    def found_online(self, prefix: str, names: Sequence[str], limit: int) -> None:
        """One line: who is online whose name starts with ``prefix`` (they complete with Tab
        from now on); a full page says there may be more."""
        self._names.update(names)
        start = one_line(prefix)
        if not names:
            self._line(f"* nobody online starts with {start!r}")
            return
        more = f" (the first {limit}: type more of the name)" if len(names) >= limit else ""
        self._line(f"* online, starting with {start!r}: {', '.join(names)}{more}")

    def watching(
        self, cmd: Literal["watch", "unwatch"], names: Sequence[str], watched: Collection[str]
    ) -> None:
        count = len(watched)
        total = f"{count} {'person' if count == 1 else 'people'} watched"
        listed = ", ".join(names) or "nobody"
        if cmd == "watch":
            self._names.update(names)
            self._line(f"* watching {listed}: you are told when they come and go ({total})")
        else:
            self._line(f"* no longer watching {listed} ({total})")

    def history(self, with_user: str, messages: Sequence[Message]) -> None:
        if messages:
            self._names.add(with_user)
        if not messages:
            self._line(f"* no history with {with_user}")
        for message in messages:
            self._line(self._format(message))

    def group_history(self, group: UUID, messages: Sequence[Message]) -> None:
        if not messages:
            self._line(f"* no history in {self._group_name(group)}")
        for message in messages:
            self._line(self._format(message))

    def groups(self, groups: Sequence[tuple[GroupState, bool]]) -> None:
        """One line per group: its name and the start of its id (what ``/g`` and ``chinwag-cli
        export --group`` take besides the name), then its members (admins marked ``*``);
        groups you left last, said so."""
        if not groups:
            self._line("* you are in no group")
        for group, left in sorted(groups, key=lambda entry: entry[1]):
            self._groups[group.id] = group
            members = ", ".join(f"{n}*" if n in group.admins else n for n in group.names)
            gone = "; you left" if left else ""
            self._line(f"* {group.name} (id {short_id(group.id)}{gone}): {members}")

    def search(self, text: str, messages: Sequence[Message]) -> None:
        """One line per result, cut around the first match (``/history`` shows them whole)."""
        self._line(f"* {len(messages)} message(s) match {text!r}")
        words = text.split()
        for message in messages:
            self._line(self._format(message, excerpt(message.body, words)))

    def info(self, text: str) -> None:
        self._line(text)

    def doctor_self(self, report: SelfReport) -> None:
        listen = (
            "listening nowhere (--listen none)"
            if report.listen is None
            else f"listening on {shown(report.listen)}"
        )
        reachable = reachable_words(report.cause, report.reachable)
        self._line(f"* doctor: you — registry {report.registry.value}, {listen}, {reachable}")
        self._line(f"  {_mark(report.cause)} {one_line(report.reason)}")

    def doctor_peer(self, report: PeerReport) -> None:
        """The path and the reason; the cause's code is for scripts (``--json``), not people."""
        if report.route is not None:
            rtt = round_trip(report.rtt_ms)
            path = f"{report.route.value}, round trip {rtt}" if rtt else report.route.value
        elif report.cause is Cause.OFFLINE:
            path = "offline"
        else:
            path = "no way to reach them now"
        self._line(f"* doctor: {report.name} — {path}")
        self._line(f"  {_mark(report.cause)} {one_line(report.reason)}")


def _group_lines(before: GroupState | None, now: GroupState, left: bool) -> list[str]:
    """What a person is told when a group changes from ``before`` (None: never told of)."""
    if left:
        return [f"* you are no longer in {now.name}"]
    members = f"* group {now.name}: members {', '.join(now.names)}"
    members += f"; admins {', '.join(sorted(now.admins))}"
    if before is None:
        return [members]
    lines = [f"* {before.name} is now called {now.name}"] if before.name != now.name else []
    lines += [f"* {name} was added to {now.name}" for name in now.names if name not in before.names]
    lines += [
        f"* {name} is no longer in {now.name}" for name in before.names if name not in now.names
    ]
    lines += [
        f"* {name} is now an admin of {now.name}"
        for name in sorted(now.admins - before.admins)
        if name in before.names
    ]
    return lines or [members]


def _mark(cause: Cause) -> str:
    return "✓" if cause is Cause.OK else "!"


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")
