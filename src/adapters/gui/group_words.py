"""What the desktop app says about groups, in words: membership changes ("alice added carol"),
per-member delivery ("delivered to 3 of 4", and who is missing), the header's member line. No Tk.

Group names and member names are typed by other people. They are validated (no controls, no
bidi overrides, bounded length), but a 64-character name would still push a header's buttons
off the window, and a group of 200 would make a tooltip taller than the screen: everything
here is bounded (:func:`shorten`, :data:`MAX_LISTED`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from chinwag.adapters.gui.view import MessageRow
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.message import MessageState

NAME_WIDTH = 32
"""Characters of a group's name shown in the header, a notice or a notification."""
MAX_LISTED = 8
"""Members named in a tooltip; the rest are counted."""
LINE_WIDTH = 90
"""Characters of the header's line about a group (its members)."""

Waiting = Callable[[str, str | None], str]
"""Why a queued delivery to a member waits, in a sentence (``IdentityPresenter``'s words)."""


@dataclass(frozen=True)
class MemberDelivery:
    """One member's delivery of a group message of the user's."""

    state: MessageState
    reason: str | None = None


def shorten(text: str, width: int = NAME_WIDTH) -> str:
    """``text`` cut to ``width`` characters with an ellipsis, whitespace runs made one space."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def listed(names: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b and c``; past ``limit`` names, the first ``limit - 1`` and how many more:
    ``a, b, … and 12 more`` (the ellipsis says the list goes on before it is counted)."""
    if len(names) > limit:
        shown = list(names[: max(limit - 1, 0)])
        more = len(names) - len(shown)
        return f"{', '.join(shown)}, … and {more} more" if shown else f"{more} people"
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _who(name: str, me: str, *, start: bool) -> str:
    if name != me:
        return name
    return "You" if start else "you"


def change_line(change: Change, me: str) -> str:
    """A membership change as a line of the conversation: "alice added carol"."""
    author = _who(change.author, me, start=True)
    member = _who(change.member or "", me, start=False)
    match change.kind:
        case ChangeKind.CREATE:
            others = [_who(m.name, me, start=False) for m in change.members]
            named = shorten(change.name or "")
            with_whom = f" with {listed(others)}" if others else ""
            return f"{author} created the group “{named}”{with_whom}"
        case ChangeKind.ADD:
            return f"{author} added {member}"
        case ChangeKind.REMOVE:
            return f"{author} removed {member}"
        case ChangeKind.ADMIN:
            return f"{author} made {member} an admin"
        case ChangeKind.LEAVE:
            return f"{author} left the group"
        case ChangeKind.RENAME:
            return f"{author} renamed the group to “{shorten(change.name or '')}”"
    return f"{author} changed the group"  # pragma: no cover - every kind is matched above


def notice_id(change: Change) -> UUID:
    """The row id of a change's line: from its hash, so the same change is one line."""
    return UUID(bytes=change.hash()[:16])


def notice_rows(changes: Iterable[Change], me: str) -> list[MessageRow]:
    """The lines of a group's changes, oldest first."""
    return [
        MessageRow(
            id=notice_id(change),
            sender=change.author,
            body=change_line(change, me),
            sent_at=change.at,
            outgoing=False,
            state=MessageState.RECEIVED,
            notice=True,
        )
        for change in changes
    ]


def merge(rows: Sequence[MessageRow], notices: Sequence[MessageRow]) -> list[MessageRow]:
    """``rows`` (in the order they were stored) with ``notices`` (oldest first) put among them
    by time: each notice goes before the first row sent after it."""
    merged: list[MessageRow] = []
    waiting = list(notices)
    for row in rows:
        while waiting and waiting[0].sent_at < row.sent_at:
            merged.append(waiting.pop(0))
        merged.append(row)
    return merged + waiting


_MISSING: tuple[tuple[MessageState, str], ...] = (
    (MessageState.FAILED, "⚠"),
    (MessageState.QUEUED, "⟳"),
    (MessageState.SENT, "✓"),
    (MessageState.PENDING, "◷"),
)
"""The states of a delivery not (yet) done, most in need of attention first, with their mark
(as the conversation pane draws it)."""


def delivery_words(deliveries: Mapping[str, MemberDelivery], waiting: Waiting) -> tuple[str, str]:
    """The tally shown after a group message's mark ("3/4", or "" once every member has it)
    and what the mark says on hover: how many have it, then who does not and why."""
    total = len(deliveries)
    if total == 0:
        return "", "Nobody else was in the group when you sent it"
    delivered = sum(1 for d in deliveries.values() if d.state is MessageState.DELIVERED)
    if delivered == total:
        return (
            "",
            "Delivered to everyone" if total > 1 else f"Delivered to {next(iter(deliveries))}",
        )
    lines = [f"Delivered to {delivered} of {total}"]
    missing = [
        (mark, name, delivery)
        for state, mark in _MISSING
        for name, delivery in sorted(deliveries.items())
        if delivery.state is state
    ]
    for mark, name, delivery in missing[:MAX_LISTED]:
        lines.append(f"{mark} {_missing_line(name, delivery, waiting)}")
    if len(missing) > MAX_LISTED:
        lines.append(f"and {len(missing) - MAX_LISTED} more not delivered yet")
    return f"{delivered}/{total}", "\n".join(lines)


def _missing_line(name: str, delivery: MemberDelivery, waiting: Waiting) -> str:
    match delivery.state:
        case MessageState.FAILED:
            because = f": {delivery.reason}" if delivery.reason else ""
            return f"{name}: not delivered{because}"
        case MessageState.QUEUED:
            return waiting(name, delivery.reason)
        case MessageState.SENT:
            return f"{name}: sent, not acknowledged yet"
        case _:
            return f"{name}: sending…"


def member_line(names: Sequence[str], admins: Iterable[str], me: str, left: bool) -> str:
    """The header's line about a group: how many, and who (admins marked), bounded."""
    admin_set = set(admins)
    shown = [
        ("you" if n == me else n) + (" (admin)" if n in admin_set else "")
        for n in sorted(names, key=lambda n: (n != me, n not in admin_set, n))
    ]
    count = f"{len(names)} member{'s' if len(names) != 1 else ''}"
    if left:
        return f"You are no longer in this group · {count}"
    return shorten(f"{count}: {listed(shown, 5)}", LINE_WIDTH)
