"""The presenter's part for groups: the groups the user is in, what an open group's header
shows and offers, the "New group" dialog and the admin actions (add, remove, make admin,
rename, leave), and posting to a group. No Tk.

The application decides (who may do what, the membership every member agrees on); this part
shows it and asks for changes. A change the user makes is shown as soon as it is made, from
the state the use case returns; the ``group`` event that follows (and those of other members'
changes) says the same again, and a stale one (an older version) is ignored. Each change
becomes a line in the open group's conversation ("alice added carol"), read from the group's
log, so the lines are the same after a restart and name who made the change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar
from uuid import UUID

from chinwag.adapters.gui.group_words import NAME_WIDTH, member_line, shorten
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_pane import Pane
from chinwag.adapters.gui.presenter_people import Joined, People
from chinwag.adapters.gui.presenter_status import sentence
from chinwag.adapters.gui.session import ChatSession, Runner
from chinwag.adapters.gui.view import GroupHeading, MemberRow, MessageRow
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change, validate_group_name
from chinwag.domain.group_log import GroupState
from chinwag.domain.user import normalize_username

log = logging.getLogger(__name__)

T = TypeVar("T")


class Host(PresenterHost, Protocol):
    """What this part needs of the chat presenter, besides what every part needs."""

    def group_opened(self, group: UUID) -> None:
        """A group was created by the user: list it and open it."""
        ...


def names_in(text: str) -> list[str]:
    """The names typed in a box, separated by commas or spaces (each checked later)."""
    return [name for name in text.replace(",", " ").split() if name]


class GroupsPart:
    """The groups, their headers and dialogs; ``me`` is the signed-in user."""

    def __init__(self, host: Host, runner: Runner, people: People, pane: Pane) -> None:
        self._host = host
        self._runner = runner
        self._people = people
        self._pane = pane
        self.me = ""
        self._busy = False  # a dialog's request is on its way

    # -- what is known --------------------------------------------------------------------------

    def loaded(self, groups: Sequence[tuple[GroupState, bool]]) -> None:
        """The groups the user is or was in, read at sign-in."""
        for state, left in groups:
            self._people.groups[state.id] = Joined(state, left)
            self._people.know(state.id)

    def members(self, group: UUID) -> tuple[str, ...]:
        joined = self._people.groups.get(group)
        return () if joined is None else joined.state.names

    def name(self, group: UUID) -> str | None:
        """The group's name, bounded, or None if it is not known."""
        joined = self._people.groups.get(group)
        return None if joined is None else shorten(joined.state.name, NAME_WIDTH)

    def heading(self, group: UUID) -> GroupHeading:
        """What the header of ``group`` shows, and which actions it offers the user (none
        for a group whose state has not come yet: its messages may come first)."""
        joined = self._people.groups.get(group)
        if joined is None:
            return GroupHeading(group, "A group", "Its members are not known yet", (), False, False)
        state, me = joined.state, self.me
        admin = not joined.left and state.is_admin(me)
        online = self._people.online
        members = tuple(
            MemberRow(
                name=name,
                admin=name in state.admins,
                online=name == me or name in online,
                me=name == me,
                can_remove=admin and name != me,
                can_make_admin=admin and name not in state.admins,
            )
            for name in state.names
        )
        return GroupHeading(
            id=group,
            name=shorten(state.name, 48),
            summary=member_line(state.names, state.admins, me, joined.left),
            members=members,
            admin=admin,
            left=joined.left,
        )

    # -- what the network reports ----------------------------------------------------------------

    def changed(self, state: GroupState, left: bool) -> bool:
        """A ``group`` event (or a change the user made): the group's state now. True if the
        side list changed. An older state than the one shown is ignored."""
        before = self._people.groups.get(state.id)
        if before is not None and (state.version, left) < (before.state.version, before.left):
            return False
        if before is not None and before == Joined(state, left):
            return False
        self._people.groups[state.id] = Joined(state, left)
        if before is None:
            self._people.add(state.id)  # added to a group: it has news, it goes first
        if self._pane.peer == state.id:
            self._host.view.show_group(self.heading(state.id))
            self._read_log(state.id)
        return True

    def presence(self) -> None:
        """Who is online changed: the open group's member list shows it."""
        group = self._pane.peer
        if isinstance(group, UUID) and group in self._people.groups:
            self._host.view.show_group(self.heading(group))

    def _read_log(self, group: UUID) -> None:
        """Read the open group's log again: a line for each change not shown yet."""
        session = self._host.usable_session()
        if session is None:
            return

        def read(changes: list[Change]) -> None:
            if self._host.closing or self._pane.peer != group:
                return
            appended: dict[UUID, MessageRow] = {}
            self._pane.noticed(changes, appended)
            if appended:
                self._host.view.append_messages(list(appended.values()))

        self._runner.run(lambda: session.group_log(group), read, self._host.failed)

    # -- posting ----------------------------------------------------------------------------------

    def can_post(self, group: UUID) -> bool:
        """Whether the user may post to ``group``; if not, says why in the status bar."""
        joined = self._people.groups.get(group)
        if joined is not None and not joined.left:
            return True
        named = shorten(joined.state.name) if joined is not None else "this group"
        self._host.view.show_error(f"You are no longer in “{named}”: nothing can be sent to it.")
        return False

    # -- what the person does ----------------------------------------------------------------------

    def create_requested(self, name: str, members: Sequence[str]) -> None:
        """The new group dialog: a group called ``name`` with ``members`` (and the user)."""
        try:
            checked = validate_group_name(name)
            people = list(dict.fromkeys(normalize_username(m) for m in members if m.strip()))
        except DomainError as exc:
            self._host.view.show_group_dialog_error(sentence(str(exc)))
            return
        people = [p for p in people if p != self.me]
        self._dialog(
            lambda session: session.create_group(checked, people),
            self._created,
        )

    def _created(self, state: GroupState) -> None:
        self._acted(state)
        self._host.group_opened(state.id)

    def add_requested(self, group: UUID, names: Sequence[str]) -> None:
        """The add dialog: these people join ``group``, one change each, in order."""
        try:
            people = list(dict.fromkeys(normalize_username(n) for n in names if n.strip()))
        except DomainError as exc:
            self._host.view.show_group_dialog_error(sentence(str(exc)))
            return
        if not people:
            self._host.view.show_group_dialog_error("Pick or type somebody to add.")
            return

        async def add_all(session: ChatSession) -> GroupState:
            state: GroupState | None = None
            for person in people:
                state = await session.add_member(group, person)
            assert state is not None
            return state

        self._dialog(add_all, self._acted)

    def rename_requested(self, group: UUID, name: str) -> None:
        try:
            checked = validate_group_name(name)
        except DomainError as exc:
            self._host.view.show_group_dialog_error(sentence(str(exc)))
            return
        self._dialog(lambda session: session.rename_group(group, checked), self._acted)

    def leave_requested(self, group: UUID) -> None:
        """The person confirmed leaving ``group``: its history stays, marked as left."""
        joined = self._people.groups.get(group)
        self._dialog(
            lambda session: session.leave_group(group),
            lambda _: None if joined is None else self._acted(joined.state, left=True),
        )

    def remove_requested(self, group: UUID, member: str) -> None:
        self._act(lambda session: session.remove_member(group, member))

    def admin_requested(self, group: UUID, member: str) -> None:
        self._act(lambda session: session.make_admin(group, member))

    # -- running them ------------------------------------------------------------------------------

    def _dialog(
        self, work: Callable[[ChatSession], Awaitable[T]], done: Callable[[T], None]
    ) -> None:
        """Run a dialog's request: busy meanwhile; closed when done, its error shown if not."""
        session = self._host.usable_session()
        if session is None or self._busy:
            return
        view = self._host.view
        self._busy = True
        view.set_group_dialog_busy(True)

        def finished(result: T) -> None:
            self._busy = False
            if self._host.closing:
                return
            view.set_group_dialog_busy(False)
            view.close_group_dialog()
            done(result)

        def refused(exc: Exception) -> None:
            self._busy = False
            if self._host.closing:
                return
            view.set_group_dialog_busy(False)
            if not isinstance(exc, DomainError):
                log.error("a group request failed", exc_info=exc)
            view.show_group_dialog_error(sentence(str(exc)))

        self._runner.run(lambda: work(session), finished, refused)

    def _act(self, work: Callable[[ChatSession], Awaitable[GroupState]]) -> None:
        """Run a header action (no dialog): shown when done, said in the status bar if not."""
        session = self._host.usable_session()
        if session is None:
            return
        self._runner.run(
            lambda: work(session),
            lambda state: None if self._host.closing else self._acted(state),
            self._host.failed,
        )

    def _acted(self, state: GroupState, *, left: bool = False) -> None:
        """A change the user made is done: show the group as it is now."""
        if self.changed(state, left):
            self._people.refresh()
