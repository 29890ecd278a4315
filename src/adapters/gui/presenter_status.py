"""The presenter's part for the status bar. No Tk.

The status bar says a lasting condition (signed in, the registry connection); a remark about one
person ("bob is offline: …", said when a chat with somebody offline opens) gives way to it again
as soon as it is no longer true, so it never stays wrong.
"""

from __future__ import annotations

from chinwag.adapters.gui.group_words import shorten
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.view import StatusLevel
from chinwag.application.ports.directory import RegistryStatus

WHY_WIDTH = 100
"""The most characters of a withdrawal's reason the status bar shows (it names the group)."""


def sentence(text: str) -> str:
    """``text`` with a capital first letter (errors are written lower case)."""
    return text[:1].upper() + text[1:] if text else text


Host = PresenterHost


class StatusLine:
    """What the status bar says, and the remarks that give way to it.

    A remark never hides a problem with the registry: while it is lost (a warning or an error
    in the bar), the bar keeps saying so, as everything the person does depends on it."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._lasting = ("", StatusLevel.OK)
        self._offline: str | None = None  # whom "… is offline" in the status bar is about
        self._request: str | None = None  # whose message request the status bar tells of

    def lasting(self, text: str, level: StatusLevel = StatusLevel.OK) -> None:
        self._lasting = (text, level)
        self._offline = self._request = None
        self._host.view.set_status(text, level)

    def registry(self, status: RegistryStatus, detail: str) -> None:
        if status is RegistryStatus.CONNECTED:
            self.lasting("Connected to the registry")
        elif status is RegistryStatus.RECONNECTING:
            self.lasting(sentence(detail), StatusLevel.WARNING)
        else:
            self.lasting(f"Disconnected: {detail}", StatusLevel.ERROR)

    def offline(self, name: str) -> None:
        if self._remark(
            f"{name} is offline: what you write waits and goes out when they are back."
        ):
            self._offline, self._request = name, None

    def request(self, name: str) -> None:
        """``name``, whom the person has not written to, wrote: short, so it fits the bar."""
        if self._remark(f"✉ Message request from {name}: reply to accept"):
            self._request, self._offline = name, None

    def withdrawn(self, sender: str, group: str, reason: str, count: int = 1) -> None:
        """Received group messages were taken out of the history (``count`` of them at once,
        the last ``sender``'s in ``group``): said, so that none vanishes without a word."""
        why = shorten(reason, WHY_WIDTH)
        if count == 1:
            text = f"{sender}'s message in “{group}” was withdrawn: {why}"
        else:
            text = f"{count} received messages were withdrawn, the last in “{group}”: {why}"
        if self._remark(text):
            self._offline = self._request = None

    def answered(self, name: str) -> None:
        """The person wrote to ``name``: a note about their request is no longer true."""
        if self._request == name:
            self.lasting(*self._lasting)

    def presence(self, online: frozenset[str]) -> None:
        if self._offline is not None and self._offline in online:
            self.lasting(*self._lasting)

    def _remark(self, text: str) -> bool:
        """Show ``text`` unless the registry is in trouble; whether it was shown."""
        if self._lasting[1] is not StatusLevel.OK:
            return False
        self._host.view.set_status(text, StatusLevel.OK)
        return True
