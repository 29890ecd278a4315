"""Which command ``chinwag-cli --json`` is answering now, so that its answers (and the events
its changes cause) carry its ``ref``."""

from __future__ import annotations

import contextvars
from typing import Any
from uuid import UUID

from chinwag.adapters.console.json_commands import NO_REF


class Answering:
    """The command whose answers are being printed: its ``ref``, while it runs. Closed when
    it ends, so a task the command started (a transfer's engine, which copies the context)
    does not go on printing its events as answers to it."""

    __slots__ = ("open", "ref", "transfers")

    def __init__(self, ref: Any) -> None:
        self.ref = ref
        self.open = True
        self.transfers: set[tuple[UUID, str]] = set()
        """The transfers (id, peer) told of while it ran: its answer, printed already."""


ANSWERING: contextvars.ContextVar[Answering | None] = contextvars.ContextVar(
    "answering", default=None
)


def answering_now() -> Answering | None:
    answering = ANSWERING.get()
    return answering if answering is not None and answering.open else None


def answering_ref() -> Any:
    answering = answering_now()
    return NO_REF if answering is None else answering.ref
