"""What the terminal client says about the messages you sent: once per change, named by a
short quote, and grouped when many change together.

Rules (each has a test in tests/unit/test_text_console.py):

- A line names the message: ``✓ delivered to bob: 'see you at…'`` (its first words, on one
  line); a failure adds the reason, a wait says why.
- At most one line per (message, state, why): the courier reports a waiting message again on
  every retry, which once printed "⧗ waiting (alice is offline)…" nine times in 70 s. A wait
  is news again only when its cause changes category (offline, a key change, a quota, ...),
  not when only the wording of "offline" does.
- Lines of the same kind to the same person that come within :data:`GROUP_WINDOW` of each other
  are one line: ``✓ delivered to bob: 'first…' and 49 more``; a batch of 50 acknowledgements
  does not flood the screen. Any other line printed meanwhile ends the group first, so the
  order on screen stays the order of events.
- A group message gets lines for its summary, naming the group (``✓ delivered to everyone in
  Friends: 'hi'``); a member's delivery only when it failed (``✗ not delivered to carol in
  Friends: …``): the summary says the rest, and twenty members' lines would drown it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from chinwag.adapters.console.output import one_line
from chinwag.domain.message import Message, MessageState

GROUP_WINDOW = 0.05
"""Seconds a state line waits for others of its kind to join it (too short for a person to
notice; long enough for a batch of acknowledgements, which arrive within milliseconds)."""

REMEMBERED = 10_000
"""Messages whose lines are remembered, to say each change once (the oldest are forgotten)."""

QUOTE_CHARACTERS = 32
"""The longest quote of a body in a state line, ellipsis included."""

QUEUED_REASONS = {
    "identity_changed": "a key changed: nothing moves until the new key is accepted",
    "over_quota": "the recipient takes no more from you for now",
    "unverified": "the recipient cannot check your key with the registry now",
    "unreachable": "no direct connection reaches them and there is no relay; "
    "/doctor {name} says why",
    "relay_refused": "the registry's relay refused (it is off, full or at its limit); "
    "/doctor {name} says which",
}
"""Why a message waits, for the reasons the courier gives as codes (``{name}``: the recipient);
any other reason (or none) means the recipient cannot be reached now."""


def quote(body: str) -> str:
    """A short quote of ``body`` on one line: its words, at most :data:`QUOTE_CHARACTERS`."""
    flat = " ".join(body.split())
    if len(flat) > QUOTE_CHARACTERS:
        flat = flat[: QUOTE_CHARACTERS - 1].rstrip() + "…"
    return f"'{flat}'"


class Timer(Protocol):
    def cancel(self) -> None: ...


Later = Callable[[float, Callable[[], None]], Timer]
"""Calls a function after a delay, as ``loop.call_later`` does (tests pass a hand-driven one)."""


def _on_the_loop(delay: float, call: Callable[[], None]) -> Timer | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (a script, a test): nothing to wait for
        return None
    return loop.call_later(delay, call)


@dataclass(frozen=True)
class _Kind:
    """What a line says, apart from which message: grouped lines share it."""

    recipient: str
    state: MessageState
    why: str
    everyone: bool = False
    """``recipient`` is a group, and the line is about all of its members."""


@dataclass
class _Group:
    kind: _Kind
    first: str
    count: int = 1


class StateLines:
    """Turns delivery state changes into lines, through ``say`` (which writes one line)."""

    def __init__(
        self, say: Callable[[str], None], window: float = GROUP_WINDOW, later: Later | None = None
    ) -> None:
        self._say = say
        self._window = window
        self._later = later
        self._said: OrderedDict[Hashable, set[tuple[MessageState, str]]] = OrderedDict()
        """What was said of each message (or of a group message's delivery to a member)."""
        self._group: _Group | None = None
        self._timer: Timer | None = None

    def changed(self, message: Message) -> None:
        """A direct message's new state."""
        told = _told(message, message.recipient or "")
        if told is not None:
            state, category, why = told
            self._tell(message.id, category, message, _Kind(message.recipient or "", state, why))

    def group_changed(self, message: Message, group: str) -> None:
        """A group message's new summary (``group``: the group's name, as shown)."""
        told = _told(message, group)
        if told is not None:
            state, category, why = told
            if state is MessageState.QUEUED:  # the reason is one member's, of many
                category, why = "members", "not every member can be reached now"
            self._tell(message.id, category, message, _Kind(group, state, why, everyone=True))

    def delivery_changed(self, message: Message, member: str, group: str) -> None:
        """A group message's new state for one ``member``: said only when it failed."""
        told = _told(message, member)
        if told is not None and told[0] is MessageState.FAILED:
            state, category, why = told
            kind = _Kind(f"{member} in {group}", state, why)
            self._tell((message.id, member), category, message, kind)

    def _tell(self, key: Hashable, category: str, message: Message, kind: _Kind) -> None:
        """Say ``kind`` of ``key`` (a message, or a delivery) unless it was said already."""
        said = self._said.setdefault(key, set())
        self._said.move_to_end(key)
        while len(self._said) > REMEMBERED:
            self._said.popitem(last=False)
        if (kind.state, category) in said:
            return
        said.add((kind.state, category))
        if self._group is not None and self._group.kind == kind:
            self._group.count += 1
            return
        self.flush()
        self._group = _Group(kind, quote(message.body))
        if self._window > 0:
            if self._later is not None:
                self._timer = self._later(self._window, self.flush)
            else:
                self._timer = _on_the_loop(self._window, self.flush)
        if self._timer is None:
            self.flush()

    def ungrouped(self) -> None:
        """Say each line at once from now on: when the client is closing, no timer may be
        left to say the last ones."""
        self.flush()
        self._window = 0.0

    def flush(self) -> None:
        """Say the line being grouped, if any, now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._group = self._group, None
        if group is not None:
            self._say(_line(group))


def _told(message: Message, name: str) -> tuple[MessageState, str, str] | None:
    """(state, category of the cause, why in words) for a change a person is told about
    (``name``: whom it goes to, for the words)."""
    if message.state is MessageState.DELIVERED:
        return message.state, "", ""
    if message.state is MessageState.FAILED:
        why = one_line(message.reason) or "no reason given"
        return message.state, why, why
    if message.state is MessageState.QUEUED:
        code = message.reason or ""
        if code in QUEUED_REASONS:
            return message.state, code, QUEUED_REASONS[code].format(name=name)
        return message.state, "unreachable", one_line(message.reason) or f"{name} is offline"
    return None


def _line(group: _Group) -> str:
    kind = group.kind
    more = f" and {group.count - 1} more" if group.count > 1 else ""
    to = f"everyone in {kind.recipient}" if kind.everyone else kind.recipient
    if kind.state is MessageState.DELIVERED:
        return f"        ✓ delivered to {to}: {group.first}{more}"
    if kind.state is MessageState.FAILED:
        return f"        ✗ not delivered to {to}: {group.first}{more}: {kind.why}"
    they = "they go" if group.count > 1 else "it goes"
    when = "each member is reachable" if kind.everyone else f"{kind.recipient} is reachable"
    return (
        f"        ⧗ waiting to reach {to}: {group.first}{more} ({kind.why}); {they} out when {when}"
    )
