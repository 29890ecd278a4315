"""The presenter's part for keys: the user's own key, contacts' key changes, the verify dialog
and accepting a new key. No Tk; tested with the chat presenter and a recording view.

The application decides whom to believe (a changed key blocks its contact both ways until the
user accepts it, or verifies it again if they had verified the old one); this part only tells
the user, in words, and turns what they press into ``trust`` and ``verify`` calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import KeyChangeNotice, SafetyNumberView
from chinwag.application.errors import IdentityChanged
from chinwag.application.trust import SafetyNumber
from chinwag.domain.errors import DomainError
from chinwag.domain.identity import fingerprint

log = logging.getLogger(__name__)

GROUPS_PER_LINE = 4
"""Groups of five digits per line of a safety number: 12 groups make 3 lines."""


@dataclass(frozen=True)
class KeyChange:
    """A contact shows ``key`` where ``previous`` was pinned; the user has not answered yet."""

    key: bytes
    previous: bytes
    verified: bool
    """The user had verified ``previous``: the new key must be verified, not just accepted."""


class Host(PresenterHost, Protocol):
    """What this part needs of the chat presenter, besides what every part needs."""

    def key_change_settled(self, name: str) -> None:
        """``name``'s key change was answered: update the list, banner and waiting marks."""
        ...


class IdentityPresenter:
    """Key changes waiting for the user, and the verify dialog (one at a time)."""

    def __init__(self, host: Host, runner: Runner) -> None:
        self._host = host
        self._runner = runner
        self.changes: dict[str, KeyChange] = {}
        self._verifying: str | None = None
        """Whose verify dialog is open, or asked for."""
        self._dialog_open = False

    # -- what the user sees ---------------------------------------------------------------------

    def signed_in(self) -> None:
        """Show the user's own key."""
        session = self._host.usable_session()
        if session is None:
            return
        self._runner.run(session.own_fingerprint, self._own_key, self._host.failed)

    def _own_key(self, own: str) -> None:
        if not self._host.closing:
            self._host.view.show_own_key(own)

    def notice(self, peer: str) -> KeyChangeNotice | None:
        """The banner over ``peer``'s conversation, if their key changed."""
        change = self.changes.get(peer)
        if change is None:
            return None
        if change.verified:
            title = f"{peer}'s key changed, and you had verified {peer}."
            text = (
                f"Nothing is sent to or accepted from {peer} until you verify the new key: "
                f"compare safety numbers with {peer} again (Verify…), in person or on a call "
                "you trust."
            )
        else:
            title = f"{peer}'s key changed."
            text = (
                f"Nothing is sent to or accepted from {peer} until you accept the new key. "
                f"If {peer} did not set chinwag up again, somebody else may be using the name: "
                "verify before you accept."
            )
        return KeyChangeNotice(
            peer=peer,
            title=title,
            text=text,
            previous=fingerprint(change.previous),
            new=fingerprint(change.key),
            can_accept=not change.verified,
            loud=change.verified,
        )

    def waiting_reason(self, peer: str, reason: str | None) -> str:
        """Why a ``queued`` message to ``peer`` waits, in words (its mark's hover text)."""
        change = self.changes.get(peer)
        if change is not None:
            answer = "verify" if change.verified else "accept"
            return f"{peer}'s key changed: nothing is sent to {peer} until you {answer} the new key"
        if reason is None:
            return f"{peer} is not online; it goes out when they are back"
        return {
            IdentityChanged.code: "a key changed: nothing moves until the new key is accepted",
            "over_quota": f"{peer} takes no more from you for now",
            "unverified": f"{peer} cannot check your key with the registry now",
            "unreachable": f"no direct connection reaches {peer} and there is no relay; "
            "Chat ▸ Connection doctor says why",
            "relay_refused": f"the registry's relay will not carry messages to {peer} now (it "
            "is off, full or at its limit); Chat ▸ Connection doctor says which",
        }.get(reason, reason)

    # -- what the network reports ----------------------------------------------------------------

    def changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        self.changes[name] = KeyChange(key, previous, verified)
        self._refresh_dialog(name)

    def trusted(self, name: str, key: bytes) -> None:
        change = self.changes.get(name)
        if change is not None and change.key == key:
            del self.changes[name]
        self._refresh_dialog(name)

    # -- what the user does ----------------------------------------------------------------------

    def verify_requested(self, peer: str) -> None:
        session = self._host.usable_session()
        if session is None:
            return
        if self._verifying != peer:
            self._dialog_open = False
        self._verifying = peer
        self._runner.run(
            lambda: session.safety_number(peer),
            lambda safety: self._show_dialog(peer, safety),
            lambda exc: self._dialog_failed(peer, exc),
        )

    def mark_verified_requested(self, peer: str, number: str) -> None:
        session = self._host.usable_session()
        if session is None:
            return
        if not number.strip():
            self._host.view.show_verify_error(
                f"Type the number {peer} reads out first, then press Mark as verified."
            )
            return
        self._host.view.set_verify_busy(True)
        self._runner.run(
            lambda: session.verify(peer, number),
            lambda safety: self._verified(peer, safety),
            lambda exc: self._not_verified(peer, exc),
        )

    def verify_closed(self, peer: str) -> None:
        if self._verifying == peer:
            self._verifying = None
            self._dialog_open = False

    def accept_key_requested(self, peer: str) -> None:
        session = self._host.usable_session()
        change = self.changes.get(peer)
        if session is None or change is None:
            return
        if change.verified:  # a verified contact's new key is verified, not just accepted
            self.verify_requested(peer)
            return
        self._runner.run(
            lambda: session.trust(peer, fingerprint(change.key)),
            lambda _: None if self._host.closing else self._accepted(peer, change.key),
            self._host.failed,
        )

    # -- outcomes ----------------------------------------------------------------------------------

    def _show_dialog(self, peer: str, safety: SafetyNumber) -> None:
        if self._host.closing or self._verifying != peer:
            return  # closed meanwhile, or another contact's dialog asked for since
        self._dialog_open = True
        self._host.view.show_verify(self._dialog(safety))

    def _verified(self, peer: str, safety: SafetyNumber) -> None:
        if self._host.closing:
            return
        self._host.view.set_verify_busy(False)
        self._accepted(peer, safety.key)
        self._show_dialog(peer, safety)

    def _not_verified(self, peer: str, exc: Exception) -> None:
        if self._host.closing:
            return
        self._host.view.set_verify_busy(False)
        self._dialog_failed(peer, exc)

    def _accepted(self, peer: str, key: bytes) -> None:
        """``key`` is ``peer``'s now (the ``identity_trusted`` event says so too, first)."""
        change = self.changes.get(peer)
        if change is not None and change.key == key:
            del self.changes[peer]
            self._host.key_change_settled(peer)

    def _dialog_failed(self, peer: str, exc: Exception) -> None:
        """In the dialog if it is open for ``peer``; in the status bar otherwise."""
        if self._host.closing:
            return
        if self._verifying == peer and self._dialog_open:
            self._host.view.show_verify_error(_text(exc))
            return
        if self._verifying == peer:
            self._verifying = None
        self._host.failed(exc)

    def _refresh_dialog(self, name: str) -> None:
        """The number in an open dialog is made of the key: ask again when it changes."""
        if self._verifying == name and self._dialog_open:
            self.verify_requested(name)

    def _dialog(self, safety: SafetyNumber) -> SafetyNumberView:
        groups = safety.number.split()
        lines = tuple(
            " ".join(groups[i : i + GROUPS_PER_LINE])
            for i in range(0, len(groups), GROUPS_PER_LINE)
        )
        peer = safety.name
        change = self.changes.get(peer)
        note = ""
        if change is not None and change.key == safety.key:
            note = (
                f"{peer}'s key changed: this number is made of the new key. Marking {peer} as "
                "verified accepts it."
            )
        return SafetyNumberView(peer, lines, safety.fingerprint, safety.verified, note)


def _text(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        text = str(exc)
        return text[:1].upper() + text[1:]
    log.error("unexpected failure", exc_info=exc)
    return f"Something went wrong: {exc}"
