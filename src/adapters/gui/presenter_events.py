"""The presenter's part for what the network reports: it routes each batch of application
events (drained from the queue on the Tk thread) to the other parts and the view, and decides
whether what arrives in the open conversation is seen or unread. No Tk."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.presenter_doctor import ConnectionDoctor
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_notify import Alerts
from chinwag.adapters.gui.presenter_pane import Pane
from chinwag.adapters.gui.presenter_people import People
from chinwag.adapters.gui.presenter_status import StatusLine
from chinwag.adapters.gui.session import Event
from chinwag.adapters.gui.view import MessageRow
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
    ) -> None:
        self._host = host
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
        for event in events:
            if event.kind in ("message", "state"):
                assert event.message is not None
                people_changed |= self._message_event(event, event.message, appended, arrived)
            elif event.kind == "presence":
                self._people.online = event.online
                self._doctor.presence(event.online)
                people_changed = True
                self._status.presence(event.online)
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
        peer = message.recipient if outgoing else message.sender
        # A new message moves its conversation to the top; a state change of an old one does not.
        people = self._people
        changed = people.add(peer) if event.kind == "message" else people.know(peer)
        if outgoing and event.kind == "state":
            changed |= self._doctor.routed(peer, message.state, event.route, message.reason or "")
        self._pane.route(event, peer, message, appended)
        if event.kind != "message" or outgoing:
            return changed
        self._alerts.arrived(peer, message)
        if message.id in appended:
            arrived.append(message.id)
            return changed
        self._people.unseen(peer, message.id)  # elsewhere, or on a page still loading
        return True

    def _appended(self, rows: list[MessageRow], arrived: list[UUID]) -> bool:
        """New rows at the bottom of the open conversation. What arrived is seen if the window
        has focus and the newest row is in view (the view follows the bottom); if not, it is
        unread, with the divider above the first of it. True if the counts changed."""
        view = self._host.view
        view.append_messages(rows)
        self._pane.newest = rows[-1].id
        peer = self._pane.peer
        if peer is None or not arrived:
            return False
        if self._alerts.focused and view.newest_visible():
            self._people.seen(peer, rows[-1].id)
            return False
        firsts = [m for m in arrived if self._people.unseen(peer, m)]
        if firsts:
            view.set_divider(firsts[0])
        return True
