"""What the view shows, as data: the rows and notices the presenter hands to the window
(:mod:`view` re-exports them with the port itself). Plain frozen values, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from chinwag.domain.message import MessageState

Chat = str | UUID
"""A conversation as the presenter and the view name it: a person's name, or a group's id."""


class FileAction(StrEnum):
    """What a file row offers the person: buttons, in the order shown."""

    ACCEPT = "accept"
    SAVE_AS = "save_as"
    """Accept, saving into a folder the person picks."""
    DECLINE = "decline"
    CANCEL = "cancel"
    OPEN = "open"
    SHOW = "show"
    """Show the file in its folder."""


@dataclass(frozen=True)
class FileRow:
    """A file offer as its row in the conversation shows it, worded by the presenter; the
    view updates the row in place when a new one with the same ``id`` comes."""

    id: UUID
    """The transfer's id: the offer message's."""
    name: str
    """Safe to show (for an incoming file, the name it is saved under)."""
    size: str
    """Human: "12.3 MB"."""
    kind: str
    """The file's type in words ("PNG image")."""
    status: str
    """Where the transfer is: "45% · 12.3 MB/s · 5 s left", "Paused: bob is offline"…"""
    fraction: float | None = None
    """The progress bar's fill (0 to 1) while it moves; ``None``: no bar."""
    actions: tuple[FileAction, ...] = ()
    problem: bool = False
    """It failed, or was declined or cancelled: the status is said as a problem."""


@dataclass(frozen=True)
class MessageRow:
    """One message as a conversation pane shows it; or, with ``notice``, a line about the
    conversation itself (a group's membership change: "alice added carol")."""

    id: UUID
    sender: str
    body: str
    sent_at: datetime
    """Aware UTC; the view shows it in local time."""
    outgoing: bool
    state: MessageState
    reason: str | None = None
    """Why a ``failed`` message failed, or why a ``queued`` one waits; shown on hover or click."""
    tally: str = ""
    """A group message of ours: how many members have it ("3/4"), shown after its mark while
    some have not; "" otherwise."""
    detail: str | None = None
    """A group message of ours: what its mark says on hover or click, worded by the presenter
    (delivered to how many, and who is missing and why); ``None``: the view words the state."""
    notice: bool = False
    """Not a message: ``body`` is a line about the conversation, shown centred at ``sent_at``
    (its ``sender`` made the change)."""
    file: FileRow | None = None
    """A file offer: shown as a file row (name, size, state, buttons), not as its ``body``."""


@dataclass(frozen=True)
class PersonRow:
    """Somebody in the side list: online now, or somebody with an earlier conversation."""

    name: str
    online: bool
    unread: int
    key_changed: bool = False
    """Their key changed and the user has not accepted it yet: marked in the list."""
    request: bool = False
    """They wrote first and the user has not written back this run (a message request)."""
    path: str = ""
    """How messages reach them now, while they are online and it is known: ``direct`` or
    ``relayed`` (shown in the list, and in the header of their conversation)."""


@dataclass(frozen=True)
class GroupRow:
    """A group in the side list (among the people, by the latest activity)."""

    id: UUID
    name: str
    """As its members named it (validated text, but anybody's: the view bounds its width)."""
    unread: int
    members: int
    left: bool = False
    """The user left the group or was removed: its history stays, nothing can be sent."""


@dataclass(frozen=True)
class MemberRow:
    """A member of the open group, as its header's member list shows them."""

    name: str
    admin: bool
    online: bool
    me: bool = False
    can_remove: bool = False
    """The user is an admin and this is somebody else: "Remove" is offered."""
    can_make_admin: bool = False
    """The user is an admin and this member is not one yet: "Make admin" is offered."""


@dataclass(frozen=True)
class GroupHeading:
    """What the header of an open group shows, and which actions it offers the user."""

    id: UUID
    name: str
    summary: str
    """One line under or beside the name: how many members, who (bounded), whether you left."""
    members: tuple[MemberRow, ...]
    admin: bool
    """The user is an admin: "Add people…" and "Rename…" are offered."""
    left: bool
    """The user is no longer a member: only the member list, no actions (not even leaving)."""


@dataclass(frozen=True)
class SearchResultRow:
    message_id: UUID
    peer: str
    """The other participant, or the group's name: what the result's "With" column says."""
    sender: str
    body: str
    sent_at: datetime
    group: UUID | None = None
    """The group the message was posted in: clicking the result opens it (else ``peer``)."""


@dataclass(frozen=True)
class KeyChangeNotice:
    """The banner over a conversation whose contact shows another key than the one pinned."""

    peer: str
    title: str
    text: str
    """What it means and what to do, in a sentence or two."""
    previous: str
    """The fingerprint of the key pinned so far."""
    new: str
    """The fingerprint of the key they show now."""
    can_accept: bool
    """Whether "Accept new key" is offered; when not, only "Verify…" (a verified contact)."""
    loud: bool
    """A verified contact's key changed: say it in red."""


@dataclass(frozen=True)
class SafetyNumberView:
    """What the verify dialog shows for one contact."""

    peer: str
    lines: tuple[str, ...]
    """The safety number, in lines of groups of five digits."""
    fingerprint: str
    """The fingerprint of the key the number is made of (their new one while a change waits)."""
    verified: bool
    note: str = ""
    """Anything the person must know first (e.g. that the key changed); "" for nothing."""


@dataclass(frozen=True)
class DoctorRow:
    """One contact in the connection doctor's window."""

    name: str
    path: str
    """``direct``, ``relayed``, ``none``, ``offline``; "" while being checked."""
    rtt: str
    """The round trip ("12 ms", "under 1 ms"), or ""."""
    reason: str
    """What is going on and what to do, in a sentence; "" while being checked."""
    ok: bool
    """A working path (shown as fine, not as a problem)."""


@dataclass(frozen=True)
class DoctorView:
    """What the connection doctor's window shows: yourself, then each contact."""

    summary: str
    """Yourself in a line: the registry connection, where you listen, reachable or not."""
    reason: str
    """Why, and what to do; "" while being checked."""
    ok: bool
    people: tuple[DoctorRow, ...]
    busy: bool
    """Checks are still running ("Check again" waits for them)."""


class StatusLevel(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class DataKind(StrEnum):
    """Which of the data dialogs: writing a backup, or restoring one (before signing in)."""

    BACKUP = "backup"
    RESTORE = "restore"


@dataclass(frozen=True)
class DataForm:
    """What the backup or restore dialog shows when it opens."""

    kind: DataKind
    title: str
    text: str
    """What it does and what to know first, in a sentence or two."""
    path: str
    """The file proposed ("" for none yet)."""
