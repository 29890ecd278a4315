"""``chinwag-cli --json``: read JSON commands from stdin until ``quit`` or end of input.

Commands are taken in batches: every line already read (up to :data:`MAX_BATCH`). Consecutive
``send`` commands of a batch run together, sharing one commit (each is still checked on its own
and refused alone); any other command first waits for the sends before it, so a ``history`` or
``search`` sees them committed, and answers come in command order. No command is taken while the
reader of stdout lags too far behind (:meth:`JsonOutput.room`): network work goes on meanwhile.

``stop`` (SIGTERM, SIGINT) is obeyed at once even while lines keep coming: it is checked before
and after every wait and before every command, so commands read but not begun are not run
(what was committed stays committed, and goes out at the next start). A line that fails in a
way nobody foresaw is answered with an ``internal`` error carrying its ref; the next goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Final, TextIO, TypeVar

from chinwag.adapters.console.commands import CommandRunner, Quit, Send, with_hint
from chinwag.adapters.console.json_commands import (
    NO_REF,
    BadJsonCommand,
    JsonCommand,
    parse_json_line,
)
from chinwag.adapters.console.json_io import MAX_LINE, TOO_LONG, LineReader
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.domain.errors import DomainError
from chinwag.domain.message import Message

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH: Final = 2048
"""The most command lines taken at once, and so the most sends sharing one commit: enough for
the commit's cost to vanish per message, few enough that the first answers are not held long."""


async def run_json_session(
    stdin: TextIO, output: ConsoleOutput, runner: CommandRunner, stop: asyncio.Event
) -> None:
    """Run the command lines of ``stdin``, until ``quit``, end of input or ``stop``."""
    if not isinstance(output, JsonOutput):
        raise TypeError("the JSON session prints through a JsonOutput")
    reader = LineReader(stdin.fileno())
    session = _Session(output, runner, stop)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            if await _unless_stopped(output.room(), stopped) is None:
                return
            batch = await _unless_stopped(reader.batch(MAX_BATCH), stopped)
            lines = None if batch is None else batch.result()
            if lines is None or not await session.run(lines):
                return
    finally:
        stopped.cancel()
        output.leaving()


async def _unless_stopped(
    work: Awaitable[T], stopped: asyncio.Future[Any]
) -> asyncio.Future[T] | None:
    """``work``, done; or None if ``stopped`` completes first, or at the same time (lines that
    are ready complete ``work`` in the same pass of the loop as a signal completes ``stopped``:
    ``stopped`` wins). ``work`` is then cancelled, or its result dropped."""
    if stopped.done():
        if asyncio.iscoroutine(work):
            work.close()  # never awaited: say so, or Python warns
        return None
    task = asyncio.ensure_future(work)
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if stopped.done() or not task.done():
        task.cancel()
        return None
    return task


class _Session:
    def __init__(self, output: JsonOutput, runner: CommandRunner, stop: asyncio.Event) -> None:
        self._output = output
        self._runner = runner
        self._stop = stop
        self._sends: list[tuple[Send, Any]] = []

    async def run(self, lines: list[bytes]) -> bool:
        """Run a batch of command lines in order; False once one was ``quit``, or at ``stop``
        (the sends gathered but not begun are then dropped: not a message was committed)."""
        try:
            for line in lines:
                if self._stop.is_set():
                    self._sends.clear()
                    return False
                if line.strip() and not await self._run_line(line):
                    return False
        finally:
            if self._stop.is_set():
                self._sends.clear()
            await self._send_waiting()
        return True

    async def _run_line(self, line: bytes) -> bool:
        """Run one line (a send is only gathered); False for ``quit``."""
        ref: Any = NO_REF
        try:
            parsed = _parse(line)
        except BadJsonCommand as exc:
            await self._send_waiting()
            self._output.error("bad_command", str(exc), ref=exc.ref)
            return True
        except Exception as exc:  # a line nobody foresaw: refused alone
            log.exception("could not read the command line %r", line[:80])
            await self._send_waiting()
            self._output.error("internal", f"that command could not be read: {exc!r}")
            return True
        ref = parsed.ref
        if isinstance(parsed.command, Send):
            self._sends.append((parsed.command, ref))
            return True
        await self._send_waiting()
        if isinstance(parsed.command, Quit):
            return False
        try:
            with self._output.answering(ref):
                await self._runner.run(parsed.command)
        except Exception as exc:  # one command's failure must not end the session
            log.exception("the command %s failed", parsed.command.cmd)
            self._output.error("internal", f"{parsed.command.cmd} failed: {exc!r}", ref=ref)
        return True

    async def _send_waiting(self) -> None:
        """Run the sends gathered so far, together; refuse each that cannot go, with its ref."""
        sends, self._sends = self._sends, []
        if not sends:
            return
        bound: list[tuple[Any, Any]] = []
        refusals: list[tuple[DomainError, Any]] = []
        self._output.begin_sends()
        try:
            outcomes = await self._runner.send_many([send for send, _ in sends])
            for (_, ref), outcome in zip(sends, outcomes, strict=True):
                if isinstance(outcome, Message):
                    bound.append((outcome.id, ref))
                else:
                    refusals.append((outcome, ref))
        except DomainError as exc:  # nobody signed in: all of them
            refusals = [(exc, ref) for _, ref in sends]
        except Exception as exc:
            log.exception("%d sends failed", len(sends))
            for _, ref in sends:
                self._output.error("internal", f"send failed: {exc}", ref=ref)
        finally:
            self._output.end_sends(bound)
        for error, ref in refusals:
            self._output.error(error.code, with_hint(error), ref=ref)


def _parse(line: bytes) -> JsonCommand:
    if line is TOO_LONG:
        raise BadJsonCommand(f"a command line is at most {MAX_LINE:,} bytes", NO_REF)
    return parse_json_line(line)
