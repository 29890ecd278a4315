"""``chinwag-cli`` for people: slash commands and plain lines, in a full terminal (line editing,
history, completion: :mod:`~chinwag.adapters.console.terminal_session`) or from a pipe or a
dumb terminal (plain lines, no escape codes)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol, TextIO

from chinwag.adapters.console.commands import CommandRunner
from chinwag.adapters.console.lines import TERMINAL_LINE_BYTES, cut_by_terminal, read_lines
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.terminal_session import run_terminal_session
from chinwag.adapters.console.text_output import TextOutput
from chinwag.adapters.console.text_runner import TextCommands


class People(Protocol):
    """Whom the user knows (``ListContacts``, ``ListConversations``): offered by completion."""

    async def execute(self) -> list[str]: ...


def full_terminal(stdin: TextIO, stdout: TextIO) -> bool:
    """Whether both ends are a terminal that understands escape codes (TERM set, not dumb)."""
    try:
        ttys = stdin.isatty() and stdout.isatty()
    except (ValueError, OSError):
        return False
    return ttys and os.environ.get("TERM", "dumb") not in ("", "dumb")


async def run_text_session(
    stdin: TextIO,
    output: ConsoleOutput,
    runner: CommandRunner,
    stop: asyncio.Event,
    *,
    user_folder: Path | None = None,
    people: People | None = None,
) -> None:
    """Run what the person types until ``/quit``, end of input or ``stop``.

    In a full terminal (and with a :class:`TextOutput`), with a line editor whose history is
    kept in ``user_folder``; the names of ``people`` are offered by completion."""
    text_output = output if isinstance(output, TextOutput) else None
    try:
        if text_output is not None and full_terminal(stdin, text_output.terminal):
            if people is not None:
                text_output.remember(await people.execute())
            await run_terminal_session(stdin, text_output, runner, stop, user_folder)
        else:
            await _run_plain(stdin, output, runner, stop)
    finally:
        if text_output is not None:
            text_output.leaving()


async def _run_plain(
    stdin: TextIO, output: ConsoleOutput, runner: CommandRunner, stop: asyncio.Event
) -> None:
    """Each line of ``stdin`` in turn: no prompt, no escape codes."""
    commands = TextCommands(output, runner, terminal=False)
    lines = read_lines(stdin)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            next_line = asyncio.ensure_future(lines.get())
            await asyncio.wait({next_line, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() or not next_line.done():  # stop wins over lines ready with it
                next_line.cancel()
                return
            line = next_line.result()
            if line is None:
                return
            if cut_by_terminal(line, stdin):
                output.error(
                    "line_cut",
                    f"not sent: this line is {TERMINAL_LINE_BYTES} bytes, the most a terminal "
                    "without line editing passes on, so its end was probably dropped; run "
                    "chinwag-cli in a full terminal (not TERM=dumb) to paste longer text, or "
                    "pipe it in",
                )
                continue
            if not await commands.handle(line) or stop.is_set():
                return
    finally:
        stopped.cancel()
