"""The terminal client in a full terminal: a prompt_toolkit line editor.

One prompt stays up for the whole session (``bob> ``, the current conversation): lines are
taken as soon as Enter is pressed and run one after another by a worker, so a slow command (a
lookup while the registry is away) never leaves the terminal echoing keys outside the editor.
What the network says is printed above the line being typed (:class:`AbovePrompt`), still
through ``terminal_safe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import create_app_session, run_in_terminal
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.output import Output, create_output
from prompt_toolkit.shortcuts import clear as clear_screen

from chinwag.adapters.console import INPUT_HISTORY_FILE
from chinwag.adapters.console.commands import CommandRunner
from chinwag.adapters.console.terminal_input import (
    BackgroundHistory,
    ChatCompleter,
    LineCheck,
    PrivateFileHistory,
    key_bindings,
)
from chinwag.adapters.console.text_commands import TextState
from chinwag.adapters.console.text_output import Sink, TextOutput, indented
from chinwag.adapters.console.text_runner import TextCommands

log = logging.getLogger(__name__)

PRINT_PAUSE = 0.02
"""Seconds the printer waits after drawing lines above the prompt, so a burst of lines is drawn
in a few strokes rather than one redraw each."""


async def run_terminal_session(
    stdin: TextIO,
    output: TextOutput,
    runner: CommandRunner,
    stop: asyncio.Event,
    user_folder: Path | None,
    devices: tuple[Input, Output] | None = None,
) -> None:
    """Edit and run lines until ``/quit``, Ctrl-D (or Ctrl-C on an empty line) or ``stop``.

    ``devices`` replaces the terminal (tests pass a pipe and a dummy screen)."""
    loop = asyncio.get_running_loop()

    def warn(text: str) -> None:  # from the history's threads: said on the loop
        loop.call_soon_threadsafe(output.error, "history", text)

    history: History = (
        InMemoryHistory()
        if user_folder is None
        else BackgroundHistory(PrivateFileHistory(user_folder / INPUT_HISTORY_FILE, warn))
    )
    if isinstance(history, BackgroundHistory):
        await history.preload()
    keyboard, screen = devices or (create_input(stdin), create_output(output.terminal))
    with create_app_session(input=keyboard, output=screen):
        session: PromptSession[str] = PromptSession(
            history=history,
            completer=ChatCompleter(output.names),
            complete_while_typing=False,
            validator=LineCheck(),
            validate_while_typing=False,
            key_bindings=key_bindings(),
            enable_open_in_editor=False,
            enable_suspend=False,
            mouse_support=False,
        )

        def clear() -> None:
            if session.app.is_running:
                session.app.renderer.clear()
            else:
                clear_screen()

        commands = TextCommands(output, runner, terminal=True, clear=clear)
        session.message = lambda: _prompt(commands.state)
        printer = AbovePrompt(screen)
        output.print_to(printer)
        try:
            with logs_above(printer, output.terminal):
                await _edit_and_run(session, commands, output, stop)
        finally:
            output.print_to(None)
            printer.close()
            if isinstance(history, BackgroundHistory):
                await asyncio.to_thread(history.close)


class AbovePrompt:
    """Where the output prints during the session: above the prompt, which is hidden, the
    text written, and the prompt drawn again (prompt_toolkit's ``run_in_terminal``).

    Not prompt_toolkit's ``StdoutProxy``: it prints from a thread of its own, which does not
    see the app session of this prompt (context variables do not follow threads), so its lines
    landed on the prompt's row. Here every print runs in this session's context, whatever task
    the line came from. Lines written together are drawn in one stroke, and strokes are at
    least :data:`PRINT_PAUSE` apart, so a burst of messages is not one redraw each.
    """

    def __init__(self, screen: Output) -> None:
        self._screen = screen
        self._context = contextvars.copy_context()  # holds this prompt's app session
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._pending: list[str] = []  # log lines may come from other threads: under the lock
        self._lock = threading.Lock()
        self._scheduled: asyncio.TimerHandle | None = None
        self._last_stroke = 0.0

    def write(self, text: str, /) -> int:
        with self._lock:
            self._pending.append(text)
        return len(text)

    def _take(self) -> str:
        with self._lock:
            pending, self._pending = self._pending, []
        return "".join(pending)

    def flush(self) -> None:
        if threading.get_ident() != self._loop_thread:  # a log line from a worker thread
            self._loop.call_soon_threadsafe(self.flush, context=self._context)
            return
        if self._scheduled is not None or not self._pending:
            return
        wait = self._last_stroke + PRINT_PAUSE - self._loop.time()
        self._scheduled = self._loop.call_later(max(wait, 0.0), self._stroke, context=self._context)

    def close(self) -> None:
        """Print what is still waiting, now (the prompt is gone)."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        text = self._take()
        if text:
            self._draw(text)

    def _stroke(self) -> None:
        self._scheduled = None
        self._last_stroke = self._loop.time()
        text = self._take()
        run_in_terminal(lambda: self._draw(text))

    def _draw(self, text: str) -> None:
        self._screen.write(text)  # escapes any control character left (we escaped them)
        self._screen.flush()


@contextlib.contextmanager
def logs_above(printer: Sink, terminal: TextIO) -> Iterator[None]:
    """Log lines meant for this terminal (stderr, when it is the same terminal) go above the
    prompt too, instead of through the line being typed."""
    try:
        same = sys.stderr.isatty() and os.path.samestat(
            os.fstat(sys.stderr.fileno()), os.fstat(terminal.fileno())
        )
    except (OSError, ValueError):
        same = False
    handlers = [
        h
        for h in logging.getLogger().handlers
        if same and type(h) is logging.StreamHandler and h.stream is sys.stderr
    ]
    for handler in handlers:
        handler.setStream(printer)  # it writes and flushes text, as a stream
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(sys.stderr)


def _prompt(state: TextState) -> FormattedText:
    """Who plain lines go to: a person, a group (its name, marked as one), or no one yet."""
    if state.group is not None:
        return FormattedText([("bold", state.group_name), ("", " (group)> ")])
    if state.chatting_with is None:
        return FormattedText([("", "(no one)> ")])
    return FormattedText([("bold", state.chatting_with), ("", "> ")])


async def _edit_and_run(
    session: PromptSession[str], commands: TextCommands, output: TextOutput, stop: asyncio.Event
) -> None:
    """One prompt for the whole session, whose Enter hands the line to a worker that runs the
    lines in order. Ends when the person quits (what they typed before still runs) or at
    ``stop`` (it does not).

    The prompt never ends between lines: when it did, a line printed in the gap landed on the
    next prompt's row, and keys typed in the gap were echoed by the terminal itself."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    quit_asked = asyncio.Event()

    def take(buffer: Buffer) -> bool:
        # What was typed stays on screen, above the prompt, as it was shown.
        shown = "".join(text for _, text, *_ in _prompt(commands.state))
        output.info(shown + indented(buffer.text))  # indented as a message shown is
        lines.put_nowait(buffer.text)
        return False  # an empty line for the next one

    session.default_buffer.accept_handler = take

    async def work() -> None:
        while (line := await lines.get()) is not None and not stop.is_set():
            try:
                if not await commands.handle(line):
                    break
            except Exception as exc:  # one bad line must not end the session
                log.exception("the line %r failed", line[:80])
                output.error("internal", f"that failed: {exc}")
            session.app.invalidate()  # the prompt names the new conversation
        quit_asked.set()

    worker = asyncio.create_task(work(), name="chinwag terminal commands")
    # An exception nobody retrieved is logged (above the line), never prompt_toolkit's
    # "Press ENTER to continue", which takes the next keys typed.
    prompt = asyncio.ensure_future(session.prompt_async(set_exception_handler=False))
    ended = asyncio.ensure_future(_first(stop, quit_asked))
    try:
        await asyncio.wait({prompt, ended}, return_when=asyncio.FIRST_COMPLETED)
        prompt.cancel()  # /quit or stop (the terminal is restored as it was)
        with contextlib.suppress(EOFError, KeyboardInterrupt, asyncio.CancelledError):
            await prompt  # Ctrl-D, or Ctrl-C on an empty line
        lines.put_nowait(None)
        await _first(stop, quit_asked)
    finally:
        ended.cancel()
        prompt.cancel()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def _first(*events: asyncio.Event) -> None:
    """Until one of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
