"""The presenter's part for people and groups: the side list (contacts, presence, groups,
unread counts, requests), the unread total in the window title, and the read markers it writes.
No Tk. A conversation is named by a :data:`Chat`: a person's name, or a group's id.

The list holds the people the user cares about: contacts, and whoever a conversation is with
(a message, a request, a new chat, a key change). Presence marks them online or not; it never
adds anybody (strangers online are found in the new chat dialog, ``presenter_new_chat``).

Unread counts come from the history at sign-in (what arrived and was never seen, before a
restart too) and grow as messages arrive that the person does not see: for another conversation,
or for the open one while the window is in the background. A conversation is seen when it is open
and the window has focus; then its read marker is written, so the counts and the divider are
right after a restart.

A received group message can be withdrawn (the group's log says it does not count): if it was
unread, it no longer counts. Those that arrived this run are known by id; those counted from the
history are counted again (the history no longer has the withdrawn one).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import Chat, GroupRow, PersonRow
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.group_log import GroupState

log = logging.getLogger(__name__)

APP = "chinwag"


Host = PresenterHost


@dataclass(frozen=True)
class Joined:
    """A group the user is in, or was in (``left``: left, or removed): its state now."""

    state: GroupState
    left: bool = False


def window_title(user: str, unread: int) -> str:
    """The window's title: the unread total first, so it shows in a task bar too."""
    title = f"{APP} — {user}"
    return f"({unread}) {title}" if unread > 0 else title


class People:
    """Who is listed, in which order, with what marks; and how far each conversation is read."""

    def __init__(self, host: Host, runner: Runner, keys: IdentityPresenter) -> None:
        self._host = host
        self._runner = runner
        self._keys = keys
        self.me = ""
        self.online: frozenset[str] = frozenset()
        """Who is online among the people watched, as the registry last pushed it."""
        self._known: dict[Chat, None] = {}  # contacts, groups, conversations: most recent first
        self._requests: set[str] = set()  # wrote first, not answered yet (this run)
        self._unread: dict[Chat, int] = {}
        """Per conversation: ``_stored`` plus ``len(_arrived)``."""
        self._stored: dict[Chat, int] = {}  # counted from the history, as read at sign-in
        self._arrived: dict[Chat, list[UUID]] = {}  # counted as they arrived (this run)
        self._recount_when_loaded: set[Chat] = set()  # withdrawals while the counts loaded
        self._first_unread: dict[Chat, UUID] = {}
        self.order: list[Chat] = []
        """The conversations as listed now, top to bottom (next / previous follow it)."""
        self.groups: dict[UUID, Joined] = {}
        """The groups the user is or was in, by id (the groups part keeps it)."""
        self._title = ""
        self._marks: dict[Chat, UUID] = {}  # read markers to write, by conversation
        self._marking = False
        self._loading = True  # the stored counts are still to come
        self._seen_early: set[Chat] = set()  # seen before they came
        self._news: set[Chat] = set()  # had news before they came
        self.paths: dict[str, Route] = {}
        """How messages reach each person now, where known (the connection doctor's part
        keeps it); shown for people online."""

    # -- what is known --------------------------------------------------------------------------

    def loaded(self, names: Sequence[Chat], unread: Mapping[Chat, Unread]) -> None:
        """The contacts, and the unread counts of what was stored before signing in.

        What arrived since came as events and is counted already (the session leaves it out of
        ``unread``), so the two add up; the stored messages are the older ones, so the first
        unread of a conversation is the stored one. A conversation seen meanwhile was seen up
        to its newest message: what was stored before is read.

        The stored order (most recent first) goes before those listed meanwhile without news
        (a request, a key change), but after those that had news meanwhile (newer than anything
        stored)."""
        early = list(self._known)
        news = [name for name in early if name in self._news]
        self._known = dict.fromkeys([*news, *names, *early])
        self._news.clear()
        for name, counted in unread.items():
            self._known.setdefault(name, None)
            if name in self._seen_early:
                continue
            self._unread[name] = self._unread.get(name, 0) + counted.count
            self._stored[name] = counted.count
            self._first_unread[name] = counted.first
        self._seen_early.clear()
        self._loading = False
        # The counts were read before or after those messages were taken out: read them again.
        recount, self._recount_when_loaded = self._recount_when_loaded, set()
        for name in recount:
            self._recount(name)

    def add(self, name: Chat) -> bool:
        """``name`` had news (a message, a new chat): first in the list, as in every chat app.
        True if the list changed (they are new, or moved up)."""
        if self._loading:
            self._news.add(name)
        if next(iter(self._known), None) == name:
            return False
        self._known = {name: None, **self._known}
        return True

    def know(self, name: Chat) -> bool:
        """List ``name`` (at the end if they are new), without moving them. True if new."""
        new = name not in self._known
        self._known.setdefault(name, None)
        return new

    def request(self, name: str) -> None:
        self._requests.add(name)
        self._known.setdefault(name, None)

    def answered(self, name: str) -> bool:
        """The person wrote to ``name``: a request of theirs is answered. True if there was one."""
        if name in self._requests:
            self._requests.discard(name)
            return True
        return False

    # -- unread ---------------------------------------------------------------------------------

    def unseen(self, name: Chat, message_id: UUID) -> bool:
        """A message from ``name`` arrived that the person does not see; True if it is the first
        unread one of that conversation (the divider goes above it)."""
        self._unread[name] = self._unread.get(name, 0) + 1
        self._arrived.setdefault(name, []).append(message_id)
        if name in self._first_unread:
            return False
        self._first_unread[name] = message_id
        return True

    def unread(self, name: Chat) -> int:
        return self._unread.get(name, 0)

    def withdrawn(self, name: Chat, message_id: UUID) -> bool:
        """A received message of ``name``'s conversation was taken out of the history: if it
        was unread it no longer counts. True if the counts changed now (one counted from the
        history is counted again, and the list shown again then)."""
        arrived = self._arrived.get(name, [])
        if message_id in arrived:
            arrived.remove(message_id)
            self._settle(name)
            return True
        if self._loading:
            self._recount_when_loaded.add(name)
        else:
            self._recount(name)
        return False

    def _recount(self, name: Chat) -> None:
        """Count ``name``'s unread messages of the history again (a group's: only those can be
        withdrawn). Reading only lowers that count (what was read since stays read, whether
        its marker is written yet or not), so the new count is at most the one kept."""
        session = self._host.usable_session()
        if session is None or not isinstance(name, UUID) or not self._stored.get(name):
            return

        def counted(unread: dict[UUID, Unread]) -> None:
            fresh = unread.get(name)
            stored = self._stored.get(name, 0)
            now = min(stored, fresh.count if fresh is not None else 0)
            if now == stored or self._host.closing:
                return
            self._stored[name] = now
            if now and fresh is not None:
                self._first_unread[name] = fresh.first
            self._settle(name)
            self.refresh()

        def failed(exc: Exception) -> None:
            if not self._host.closing:  # the count is right again after a restart
                log.warning("could not count the unread messages of a group again: %s", exc)

        self._runner.run(session.group_unread, counted, failed)

    def _settle(self, name: Chat) -> None:
        """The count and the first unread message of ``name`` after one of them went."""
        stored = self._stored.get(name, 0)
        arrived = self._arrived.get(name, [])
        if stored + len(arrived):
            self._unread[name] = stored + len(arrived)
        else:
            self._unread.pop(name, None)
        if not stored:
            self._stored.pop(name, None)
            if arrived:
                self._first_unread[name] = arrived[0]
            else:
                self._first_unread.pop(name, None)
                self._arrived.pop(name, None)

    def first_unread(self, name: Chat) -> UUID | None:
        return self._first_unread.get(name)

    def seen(self, name: Chat, upto: UUID) -> None:
        """The person saw ``name``'s conversation up to the message ``upto``: no longer unread,
        and the read marker is written (one write at a time; later ones replace waiting ones)."""
        self._first_unread.pop(name, None)
        self._stored.pop(name, None)
        self._arrived.pop(name, None)
        if self._loading:
            self._seen_early.add(name)
        if self._unread.pop(name, 0):
            self.refresh()
        self._marks[name] = upto
        self._write_marks()

    def _write_marks(self) -> None:
        session = self._host.usable_session()
        if self._marking or not self._marks or session is None:
            return
        name, upto = next(iter(self._marks.items()))
        del self._marks[name]
        self._marking = True

        def written(_: object) -> None:
            self._marking = False
            self._write_marks()

        def failed(exc: Exception) -> None:
            # Not worth interrupting the person: the count comes back after a restart at worst
            # (and while closing, signing out may simply have come first).
            if not self._host.closing:
                log.warning("could not remember that %s's messages were read: %s", name, exc)
            written(None)

        if isinstance(name, UUID):
            self._runner.run(lambda: session.mark_group_read(name, upto), written, failed)
        else:
            self._runner.run(lambda: session.mark_read(name, upto), written, failed)

    # -- showing --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the list, and the unread total in the title."""
        others = self.online - {self.me}
        # The order is the conversations' (most recent activity first), never presence: a row
        # that moved as somebody came and went would take the next click to the wrong person.
        # Presence only lights the dots: somebody online is listed once they are a contact or
        # have a conversation (the new chat dialog finds the others). The registry may push
        # people the user watches for other reasons (the members of a group), or, while it is
        # small, everybody online: none of them belongs in the list for that alone.
        # Never you. A group is listed once its state is known.
        names = [
            name
            for name in self._known
            if name != self.me and (not isinstance(name, UUID) or name in self.groups)
        ]
        self.order = names
        view = self._host.view
        view.set_people([self._row(name, others) for name in names])
        title = window_title(self.me, sum(self._unread.values()))
        if title != self._title:
            self._title = title
            view.set_title(title)

    def _row(self, name: Chat, others: frozenset[str]) -> PersonRow | GroupRow:
        unread = self._unread.get(name, 0)
        if isinstance(name, UUID):
            joined = self.groups[name]
            state = joined.state
            return GroupRow(state.id, state.name, unread, len(state.members), joined.left)
        return PersonRow(
            name,
            name in others,
            unread,
            name in self._keys.changes,
            name in self._requests,
            self._path(name, others),
        )

    def people(self) -> list[str]:
        """The people listed (not the groups), top to bottom."""
        return [name for name in self.order if isinstance(name, str)]

    def _path(self, name: str, online: frozenset[str]) -> str:
        route = self.paths.get(name) if name in online else None
        return "" if route is None else route.value

    def step(self, current: Chat | None, by: int) -> Chat | None:
        """The conversation ``by`` places after ``current`` in the list, going round; the first
        (or last) one when nothing is open; None for an empty list."""
        if not self.order:
            return None
        if current not in self.order:
            return self.order[0 if by > 0 else -1]
        return self.order[(self.order.index(current) + by) % len(self.order)]
