"""The presenter's part for the connection doctor and the paths to people. No Tk.

It keeps how messages reach each person now (``direct`` or ``relayed``), learnt from what the
network reports (a delivered message says the route it travelled; a queued one, that none works
now) and from the doctor's answers; the side list and the conversation header show it for
people who are online. The doctor's window shows the user's own report and each contact's path,
round trip and reason, filled in as the checks answer (each within a few seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from itertools import count

from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_status import sentence
from chinwag.adapters.gui.session import ChatSession, Runner
from chinwag.adapters.gui.view import DoctorRow, DoctorView
from chinwag.application.delivery import QUEUED_CAUSES
from chinwag.application.doctor import Cause, round_trip
from chinwag.application.doctor_self import listen_words, reachable_words
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.message import MessageState

log = logging.getLogger(__name__)

MAX_CHECKED = 30
"""Contacts checked at once (the first of the list): each online one costs a connection."""

NO_PATH_REASONS = frozenset(QUEUED_CAUSES.values())
"""Why a message waits when no path reaches its recipient now (the courier's words)."""

Host = PresenterHost


def summary(report: SelfReport) -> str:
    """The user's own report in a line."""
    listen = listen_words(report.listen)
    reachable = reachable_words(report.cause, report.reachable)
    return f"Registry {report.registry.value} · {listen} · {reachable}"


def doctor_row(report: PeerReport) -> DoctorRow:
    # A sentence, but a name keeps its spelling ("bob is offline", not "Bob is offline").
    reason = report.reason if report.reason.startswith(report.name) else sentence(report.reason)
    path = "offline" if report.cause is Cause.OFFLINE else report.path
    return DoctorRow(
        report.name, path, round_trip(report.rtt_ms), f"{reason}.", report.cause is Cause.OK
    )


class ConnectionDoctor:
    """The paths to people, and the doctor's window. ``changed()`` is called when a path the
    side list shows changed (the presenter redraws the list)."""

    def __init__(self, host: Host, runner: Runner, changed: Callable[[], None]) -> None:
        self._host = host
        self._runner = runner
        self._changed = changed
        self.paths: dict[str, Route] = {}
        """How messages reach each person now, where known."""
        self._open = False
        self._round = count()
        self._current = -1
        self._me: SelfReport | Exception | None = None
        self._rows: dict[str, DoctorRow | None] = {}
        """The contacts of the current round, in list order; None while being checked."""

    # -- paths ------------------------------------------------------------------------------------

    def routed(self, name: str, state: MessageState, route: Route | None, reason: str) -> bool:
        """A message to ``name`` changed state; True if the path shown for them changed."""
        if state in (MessageState.DELIVERED, MessageState.SENT) and route is not None:
            return self._set(name, route)
        if state is MessageState.QUEUED and reason in NO_PATH_REASONS:
            return self._set(name, None)
        return False

    def presence(self, online: frozenset[str]) -> None:
        """Who left has no path any more: when they are back, it is learnt again."""
        for name in [n for n in self.paths if n not in online]:
            del self.paths[name]

    def _set(self, name: str, route: Route | None) -> bool:
        if self.paths.get(name) == route:
            return False
        if route is None:
            del self.paths[name]
        else:
            self.paths[name] = route
        return True

    # -- the window -------------------------------------------------------------------------------

    def requested(self, people: list[str]) -> None:
        """Open the window (or check again): the user, then the first :data:`MAX_CHECKED` of
        ``people``, all at once; each answer is shown as it comes."""
        session = self._host.usable_session()
        if session is None or self._host.closing:
            return
        if self._open and self._busy():
            return  # "Check again" while checks still run: they answer soon
        self._open = True
        self._current = round_ = next(self._round)
        self._me = None
        self._rows = {name: None for name in people[:MAX_CHECKED]}
        self._show()
        self._runner.run(
            session.diagnose_self,
            lambda report: self._self_answered(round_, report),
            lambda exc: self._self_answered(round_, exc),
        )
        for name in self._rows:
            self._check(session, round_, name)

    def closed(self) -> None:
        self._open = False

    def _check(self, session: ChatSession, round_: int, name: str) -> None:
        self._runner.run(
            lambda: session.diagnose(name),
            lambda report: self._peer_answered(round_, name, report),
            lambda exc: self._peer_failed(round_, name, exc),
        )

    def _self_answered(self, round_: int, report: SelfReport | Exception) -> None:
        if round_ != self._current or self._host.closing:
            return
        if isinstance(report, Exception):
            log.warning("the connection doctor could not check you: %s", report)
        self._me = report
        self._show()

    def _peer_answered(self, round_: int, name: str, report: PeerReport) -> None:
        if self._host.closing or round_ != self._current:
            return  # an older round's answer is older than what the newer one says
        if self._set(report.name, report.route):
            self._changed()
        self._rows[name] = doctor_row(report)
        self._show()

    def _peer_failed(self, round_: int, name: str, exc: Exception) -> None:
        if self._host.closing or round_ != self._current:
            return
        self._rows[name] = DoctorRow(name, "none", "", f"Could not check: {exc}.", False)
        self._show()

    def _busy(self) -> bool:
        return self._me is None or any(row is None for row in self._rows.values())

    def _show(self) -> None:
        if not self._open or self._host.closing:
            return
        me = self._me
        if me is None:
            head, reason, ok = "Checking your connection…", "", False
        elif isinstance(me, Exception):
            head, reason, ok = "Your connection could not be checked", f"{me}.", False
        else:
            head, reason, ok = summary(me), f"{sentence(me.reason)}.", me.cause is Cause.OK
        rows = tuple(
            row if row is not None else DoctorRow(name, "", "", "", False)
            for name, row in self._rows.items()
        )
        self._host.view.show_doctor(DoctorView(head, reason, ok, rows, self._busy()))
