"""The client a session talks to, as the use cases see it (an output port: the registry's
``Connection`` implements it and turns each call into a frame)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chinwag.domain.registry.refusals import KickCode


class ClientPort(Protocol):
    """What the registry pushes to one client. Each call queues a frame and returns at once."""

    def presence(self, online: Sequence[str]) -> None:
        """The client's whole presence set (``presence {online}``)."""
        ...

    def presence_changed(self, joined: Sequence[str], left: Sequence[str]) -> None:
        """Names that joined or left since the last push (``presence_changed``)."""
        ...

    def relay_incoming(
        self, sid: str, from_: str, timeout: float, via: Sequence[str] | None
    ) -> None:
        """``from_`` asks for a relayed session ``sid``, to be joined within ``timeout``
        seconds, on the registry at one of ``via`` (None: this one)."""
        ...

    def kick(self, code: KickCode, text: str) -> None:
        """The registration ended (``replaced``, ``released``): send the last frame, close."""
        ...
