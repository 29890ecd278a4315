"""The pieces of the terminal client's line editor: completion, the check before a line is
taken, the keys, and the input history on disk."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import History, ThreadedHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.validation import ValidationError, Validator

from chinwag.adapters.console.commands import BadCommand, Send
from chinwag.adapters.console.text_commands import (
    COMMAND_NAMES,
    NAME_COMMANDS,
    TextState,
    control_character_problem,
    parse_text_command,
)
from chinwag.adapters.files import open_private, read_private, write_private
from chinwag.domain.message import MAX_BODY_BYTES

log = logging.getLogger(__name__)


HISTORY_ENTRIES = 1_000
"""How many typed lines the history keeps across sessions."""

HISTORY_COMPACT_BYTES = 1 << 20
"""A history file larger than this is rewritten with its newest :data:`HISTORY_ENTRIES` lines."""

_NAME_ARGUMENT = re.compile(r"/(\w+) +(\S*)")


class ChatCompleter(Completer):
    """Tab completes a command (``/m`` → ``/msg``) and, after a command that takes one, a
    person's name (``/msg b`` → ``/msg bob``) from ``names`` (asked anew each time)."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self._names = names

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        if "\n" in before or not before.startswith("/"):
            return
        if " " not in before:
            typed = before.lower()
            for command in COMMAND_NAMES:
                if command.startswith(typed):
                    yield Completion(command + " ", -len(before), display=command)
            return
        argument = _NAME_ARGUMENT.fullmatch(before)
        if argument is None or argument.group(1).lower() not in NAME_COMMANDS:
            return
        word = argument.group(2)
        for name in sorted(set(self._names())):
            if name.startswith(word.lower()):
                yield Completion(name + " ", -len(word), display=name)


class LineCheck(Validator):
    """What Enter refuses, leaving the line in the editor with the reason under it: control
    characters (a key read as text), and a message over the size limit (never cut)."""

    def validate(self, document: Document) -> None:
        text = document.text
        problem = control_character_problem(text)
        if problem is not None:  # the cursor goes to the character
            at = next(i for i, ch in enumerate(text) if control_character_problem(ch))
            raise ValidationError(cursor_position=at, message=problem)
        try:  # only the body counts; whoever it goes to does not matter here
            command = parse_text_command(text, TextState(chatting_with="someone"))
        except BadCommand:
            return  # said when it runs, like any other mistake
        if isinstance(command, Send):
            size = len(command.body.encode("utf-8", "surrogatepass"))
            if size > MAX_BODY_BYTES:
                raise ValidationError(
                    cursor_position=document.cursor_position,  # where it was: at the end
                    message=(
                        f"not sent: a message is at most {MAX_BODY_BYTES} bytes of UTF-8 and "
                        f"this one has {size}; shorten it (Ctrl-C clears the line)"
                    ),
                )


def key_bindings() -> KeyBindings:
    """Our keys on top of prompt_toolkit's Emacs-like ones (Ctrl-L, Ctrl-D, arrows, ...)."""
    keys = KeyBindings()

    @keys.add("escape", "enter")  # Alt+Enter: terminals send Esc then Enter
    def _new_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @keys.add("c-c")
    def _clear_or_quit(event: KeyPressEvent) -> None:
        if event.current_buffer.text:
            event.current_buffer.reset()
        else:
            event.app.exit(exception=EOFError())

    return keys


class PrivateFileHistory(History):
    """prompt_toolkit's ``FileHistory`` format (``+line`` per line of an entry, entries apart),
    written through :mod:`chinwag.adapters.files`: 0600 when made, never through a link, and
    bounded. What cannot be read or written is said once through ``warn``; the history then
    lives in memory for the session."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        super().__init__()
        self._path = path
        self._warn = warn
        self._broken = False

    def load_history_strings(self) -> Iterable[str]:
        try:
            data = read_private(self._path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._fail("read", exc)
            return []
        entries = _parse(data.decode("utf-8", errors="replace"))[-HISTORY_ENTRIES:]
        if len(data) > HISTORY_COMPACT_BYTES:
            try:
                write_private(self._path, "".join(map(_entry, entries)).encode("utf-8"))
            except OSError as exc:
                self._fail("rewrite", exc)
        return reversed(entries)

    def store_string(self, string: str) -> None:
        if self._broken:
            return
        try:
            fd = open_private(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            with os.fdopen(fd, "wb") as file:
                file.write(_entry(string).encode("utf-8", errors="replace"))
        except OSError as exc:
            self._fail("write", exc)

    def _fail(self, what: str, exc: OSError) -> None:
        self._broken = True
        log.info("input history %s: %s", self._path, exc)
        self._warn(
            f"could not {what} the input history {self._path} ({exc}); it is kept "
            "for this session only"
        )


class BackgroundHistory(ThreadedHistory):
    """A history whose file is never touched on the event loop (a slow disk, a network home,
    must not freeze the prompt nor delay acknowledgements): prompt_toolkit's ``ThreadedHistory``
    loads it in a thread, and here each line is also stored by a thread of its own, one after
    another, in the order typed. :meth:`close` waits for the last ones."""

    def __init__(self, history: History) -> None:
        super().__init__(history)
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chinwag-history")
        self._preloaded = False

    async def preload(self) -> None:
        """Read the file (in the thread) before the prompt shows, so that an Up pressed at once
        finds the lines: from then on :meth:`load` serves them from memory at once."""
        async for _ in super().load():
            pass
        self._preloaded = True

    async def load(self) -> AsyncGenerator[str, None]:
        """The lines, newest first. Once :meth:`preload` has read the file, straight from
        memory: ``ThreadedHistory.load`` goes through the executor twice even then, so the
        editor's own load of the history could finish after the first key was read, and an Up
        pressed as soon as the prompt showed found nothing (seen in CI)."""
        if not self._preloaded:
            async for item in super().load():
                yield item
            return
        with self._lock:
            items = list(self._loaded_strings)
        for item in items:
            yield item

    def store_string(self, string: str) -> None:
        self._writes.submit(self.history.store_string, string)

    def close(self) -> None:
        """Wait until every line is stored (blocking: call it from a thread)."""
        self._writes.shutdown(wait=True)


def _entry(string: str) -> str:
    return "\n" + "".join(f"+{line}\n" for line in string.split("\n"))


def _parse(text: str) -> list[str]:
    """The entries of a history file, oldest first."""
    entries: list[str] = []
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("+"):
            lines.append(line[1:])
        elif lines:
            entries.append("\n".join(lines))
            lines = []
    if lines:
        entries.append("\n".join(lines))
    return entries
