"""``chinwag-cli`` for people: slash commands and plain lines from the terminal."""

from __future__ import annotations

import asyncio
from typing import TextIO

from chinwag.adapters.console.commands import BadCommand, CommandRunner, Quit, Send
from chinwag.adapters.console.lines import read_lines
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.text_commands import HELP, Noop, TextState, parse_text_command


async def run_text_session(
    stdin: TextIO, output: ConsoleOutput, runner: CommandRunner, stop: asyncio.Event
) -> None:
    """Run each line of ``stdin`` in turn, until ``/quit``, end of input or ``stop``."""
    lines = read_lines(stdin)
    state = TextState()
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            next_line = asyncio.ensure_future(lines.get())
            await asyncio.wait({next_line, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not next_line.done():
                next_line.cancel()
                return
            line = next_line.result()
            if line is None:
                return
            try:
                command = parse_text_command(line, state)
            except BadCommand as exc:
                output.error("bad_command", str(exc))
                continue
            if command is None:
                output.info(HELP)
                continue
            if isinstance(command, Quit):
                return
            if isinstance(command, Noop):
                continue
            if await runner.run(command) and isinstance(command, Send):
                state.chatting_with = command.to  # plain lines now go to them
    finally:
        stopped.cancel()
