"""``chinwag-cli --json``: read JSON commands from stdin until ``quit`` or end of input."""

from __future__ import annotations

import asyncio
from typing import TextIO

from chinwag.adapters.console.commands import BadCommand, CommandRunner, Quit, parse_json_command
from chinwag.adapters.console.lines import read_lines
from chinwag.adapters.console.output import ConsoleOutput


async def run_json_session(
    stdin: TextIO, output: ConsoleOutput, runner: CommandRunner, stop: asyncio.Event
) -> None:
    """Run each command line of ``stdin`` in turn, until ``quit``, end of input or ``stop``."""
    lines = read_lines(stdin)
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
            if not line.strip():
                continue
            try:
                command = parse_json_command(line)
            except BadCommand as exc:
                output.error("bad_command", str(exc))
                continue
            if isinstance(command, Quit):
                return
            await runner.run(command)
    finally:
        stopped.cancel()
