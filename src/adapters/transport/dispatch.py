"""Peer frames handed to their handlers by frame type (docs/protocol.md).

Each side of a session has one table: the accepting side takes ``messages``, ``group_have``,
``group_changes`` and the file requests and answers ``ping``; the connecting side takes
``receipt``, ``pong``, ``error`` and the file answers. A new kind of frame is a new model in
:mod:`~chinwag.adapters.transport.protocol` (or :mod:`~chinwag.adapters.transport.file_frames`)
and a handler registered here, not another branch in a read loop. A frame with no handler on
this side breaks the protocol (``bad_frame``), exactly as before the table existed.

Handlers are synchronous and run in the order the frames arrived; work that must wait (storing a
batch, answering after the application) is gathered into the per-read context by the handler and
done by the read loop once the read's frames are all handled, so that one read's ``messages``
still reach the application as one batch. Work that must not hold the read up at all (group
sync: :mod:`~chinwag.adapters.transport.group_inbox`) is handed to a task of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar


class ProtocolViolation(Exception):
    """The peer broke the protocol (or the application refused it): ``code`` is the error
    frame's code, the message its text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TypedFrame(Protocol):
    """What the dispatcher needs of a frame: its ``type`` word, for the error text."""

    @property
    def type(self) -> str: ...


C = TypeVar("C")
"""The context a handler works on: one read's state, or the link that reads."""
F = TypeVar("F", bound=TypedFrame)


class Dispatcher(Generic[C]):
    """Handlers keyed by frame class; a frame of any other class is a ``bad_frame``."""

    def __init__(self) -> None:
        # Erased to Any here: :meth:`register` ties each handler to its own frame class.
        self._handlers: dict[type[Any], Callable[[C, Any], None]] = {}

    def register(self, kind: type[F], handler: Callable[[C, F], None]) -> None:
        """Frames of class ``kind`` go to ``handler``; one handler per class."""
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind.__name__} frames is registered already")
        self._handlers[kind] = handler

    def handles(self, kind: type[Any]) -> bool:
        return kind in self._handlers

    def dispatch(self, context: C, frame: TypedFrame) -> None:
        """Hand ``frame`` to its handler; ``ProtocolViolation('bad_frame')`` if it has none."""
        handler = self._handlers.get(type(frame))
        if handler is None:
            raise ProtocolViolation("bad_frame", f"unexpected {frame.type} frame")
        handler(context, frame)

    def dispatch_all(self, context: C, frames: Iterable[TypedFrame]) -> None:
        """Each of ``frames`` in order. ``frames`` may be lazy (parsing as it goes): a frame
        is handled before the next is parsed, so a malformed frame stops the read after the
        frames before it were handled, as a plain loop would."""
        for frame in frames:
            self.dispatch(context, frame)
