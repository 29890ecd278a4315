"""The presenter's part for sending what the person typed: to the person of the open
conversation, or to every member of the open group. No Tk."""

from __future__ import annotations

from uuid import UUID

from chinwag.adapters.gui.presenter_groups import GroupsPart
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_pane import Pane
from chinwag.adapters.gui.presenter_people import People
from chinwag.adapters.gui.presenter_status import StatusLine
from chinwag.adapters.gui.session import Runner

Host = PresenterHost


class Sending:
    """Sends the entry's text to the open conversation."""

    def __init__(
        self,
        host: Host,
        runner: Runner,
        pane: Pane,
        people: People,
        status: StatusLine,
        groups: GroupsPart,
    ) -> None:
        self._host = host
        self._runner = runner
        self._pane = pane
        self._people = people
        self._status = status
        self._groups = groups

    def requested(self, text: str) -> None:
        peer = self._pane.peer
        session = self._host.usable_session()
        if session is None or not text.strip():
            return
        view = self._host.view
        if peer is None:
            view.show_error("Pick somebody to talk to first.")
            return
        if isinstance(peer, UUID) and not self._groups.can_post(peer):
            return
        # The entry empties now, so a second Enter cannot send the text again; a refusal puts
        # the text back.
        view.clear_entry()

        def refused(exc: Exception) -> None:
            self._host.failed(exc)
            if not self._host.closing:
                view.restore_entry(text)

        def sent(_: object) -> None:
            if isinstance(peer, str) and self._people.answered(peer):  # writing back answers
                self._people.refresh()
                self._status.answered(peer)

        if isinstance(peer, UUID):
            self._runner.run(lambda: session.post(peer, text), sent, refused)
        else:
            self._runner.run(lambda: session.send(peer, text), sent, refused)
