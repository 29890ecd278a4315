"""The presenter's part for what the network reports: it routes each batch of application
events (drained from the queue on the Tk thread) to the other parts and the view, and decides
whether what arrives in the open conversation is seen or unread. No Tk.

A message names its conversation: a direct one the other person (its sender, or for one of
ours its recipient), a group's its group (``group_id``; it has no recipient). A received group
message can be withdrawn later (``withdrawn``): it leaves the open conversation and the unread
counts, and the status bar says so. A file transfer's events update its row in place
(``presenter_files``)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.presenter_doctor import ConnectionDoctor
from chinwag.adapters.gui.presenter_files import Files
from chinwag.adapters.gui.presenter_groups import GroupsPart
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_notify import Alerts
from chinwag.adapters.gui.presenter_pane import Pane
from chinwag.adapters.gui.presenter_people import People
from chinwag.adapters.gui.presenter_status import StatusLine
from chinwag.adapters.gui.session import Event
from chinwag.adapters.gui.view import Chat, MessageRow
from chinwag.domain.message import Message

Host = PresenterHost


class EventRouter:
    """Shows what the network reports; ``me`` is the signed-in user (who sends outgoing
    messages)."""

    def __init__(
        self,
        host: Host,
        people: People,
        pane: Pane,
        keys: IdentityPresenter,
        alerts: Alerts,
        status: StatusLine,
        doctor: ConnectionDoctor,
        groups: GroupsPart,
        files: Files,
    ) -> None:
        self._host = host
        self._files = files
        self._groups = groups
        self._doctor = doctor
        self._people = people
        self._pane = pane
        self._keys = keys
        self._alerts = alerts
        self._status = status
        self.me = ""

    def handle(self, events: Sequence[Event]) -> None:
        """Show a batch of events: new rows of the open conversation go to the view in one call,
        the side list is redrawn at most once."""
        if self._host.closing:
            return
        appended: dict[UUID, MessageRow] = {}
        arrived: list[UUID] = []  # received messages of the open conversation, to append
        people_changed = False
        keys_changed: set[str] = set()
        withdrawn: list[Event] = []
        # Transfers first (the latest record of each): rows made below show them as they are.
        transfers = self._files.changed(events)
        for event in events:
            if event.kind in ("message", "state"):
                assert event.message is not None
                people_changed |= self._message_event(event, event.message, appended, arrived)
            elif event.kind == "delivery":
                assert event.message is not None
                people_changed |= self._delivery(event, event.message, appended)
            elif event.kind == "group":
                assert event.group is not None
                people_changed |= self._groups.changed(event.group, event.left)
            elif event.kind == "withdrawn":
                assert event.message is not None
                if event.message.group_id is not None:  # only a group's are ever withdrawn
                    people_changed |= self._withdrawn(event.message, appended, arrived)
                    withdrawn.append(event)
            elif event.kind == "presence":
                self._people.online = event.online
                self._doctor.presence(event.online)
                people_changed = True
                self._status.presence(event.online)
                self._groups.presence()
            elif event.kind == "registry":
                assert event.status is not None
                self._status.registry(event.status, event.text)
            elif event.kind == "error":
                self._host.view.show_error(event.text)
            elif event.kind == "identity_changed":
                self._keys.changed(event.name, event.key, event.previous, event.verified)
                self._people.know(event.name)
                keys_changed.add(event.name)
            elif event.kind == "identity_trusted":
                self._keys.trusted(event.name, event.key)
                keys_changed.add(event.name)
            elif event.kind == "message_request":
                self._people.request(event.name)
                people_changed = True
                self._status.request(event.name)
        if appended:
            people_changed |= self._appended(list(appended.values()), arrived)
        if transfers:
            self._files.show_changed(transfers, appended.keys())
        if withdrawn:
            self._say_withdrawn(withdrawn)
        for name in keys_changed:
            self._pane.show_key_change(name)
        if people_changed or keys_changed:
            self._people.refresh()

    def _message_event(
        self, event: Event, message: Message, appended: dict[UUID, MessageRow], arrived: list[UUID]
    ) -> bool:
        """Route one message event; whether the side list changed. A received message that goes
        to the bottom of the open conversation is put in ``arrived``: whether the person sees
        it is known once it is shown."""
        outgoing = message.sender == self.me
        peer: Chat
        if message.group_id is not None:
            peer = message.group_id
        elif outgoing and message.recipient is not None:
            peer = message.recipient
        else:
            peer = message.sender
        # A new message moves its conversation to the top; a state change of an old one does not.
        people = self._people
        changed = people.add(peer) if event.kind == "message" else people.know(peer)
        if outgoing and event.kind == "state" and isinstance(peer, str):
            changed |= self._doctor.routed(peer, message.state, event.route, message.reason or "")
        self._pane.route(event, peer, message, appended)
        if event.kind != "message" or outgoing:
            return changed
        if isinstance(peer, UUID):
            self._alerts.arrived(peer, message, self._groups.name(peer) or "a group")
        else:
            self._alerts.arrived(peer, message)
        if message.id in appended:
            arrived.append(message.id)
            return changed
        self._people.unseen(peer, message.id)  # elsewhere, or on a page still loading
        return True

    def _delivery(self, event: Event, message: Message, appended: dict[UUID, MessageRow]) -> bool:
        """A group message of ours reached (or not) one member: its row's tally and tooltip
        say so; the path it took is that member's path. True if the side list changed."""
        member = event.name
        self._pane.delivered(message, member, appended)
        return self._doctor.routed(member, message.state, event.route, message.reason or "")

    def _withdrawn(
        self, message: Message, appended: dict[UUID, MessageRow], arrived: list[UUID]
    ) -> bool:
        """A received group message was taken out of the history: out of the open
        conversation, and of the unread counts. True if the side list changed."""
        assert message.group_id is not None
        self._pane.withdraw(message, appended)
        if message.id in arrived:  # arrived in this very batch: not counted yet, never will be
            arrived.remove(message.id)
            return False
        return self._people.withdrawn(message.group_id, message.id)

    def _say_withdrawn(self, events: list[Event]) -> None:
        """One status-bar note for the withdrawals of a batch, naming the last one."""
        last = events[-1].message
        assert last is not None and last.group_id is not None
        group = self._groups.name(last.group_id) or "a group"
        self._status.withdrawn(last.sender, group, events[-1].text, len(events))

    def _appended(self, rows: list[MessageRow], arrived: list[UUID]) -> bool:
        """New rows at the bottom of the open conversation. What arrived is seen if the window
        has focus and the newest row is in view (the view follows the bottom); if not, it is
        unread, with the divider above the first of it. True if the counts changed."""
        view = self._host.view
        view.append_messages(rows)
        messages = [r.id for r in rows if not r.notice]  # the read marker goes on a message
        if messages:
            self._pane.newest = messages[-1]
        peer = self._pane.peer
        if peer is None or not arrived:
            return False
        if self._alerts.focused and view.newest_visible():
            self._people.seen(peer, messages[-1])  # what arrived is among them
            return False
        firsts = [m for m in arrived if self._people.unseen(peer, m)]
        if firsts:
            view.set_divider(firsts[0])
        return True
