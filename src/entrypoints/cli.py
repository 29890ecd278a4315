"""``chinwag-cli``: the chat client in a terminal, friendly or as JSON lines for scripts."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from dependency_injector import providers

from chinwag.adapters.console.commands import (
    HELP,
    BadCommand,
    CommandRunner,
    Quit,
    Send,
    TextState,
    parse_json_command,
    parse_text_command,
    with_hint,
)
from chinwag.adapters.console.output import ConsoleOutput, JsonOutput, TextOutput
from chinwag.adapters.sqlite.database import StorageError
from chinwag.domain.errors import DomainError
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import StartupError, run_event_loop
from chinwag.entrypoints.container import Container, close_storage
from chinwag.entrypoints.settings import (
    ClientSettings,
    add_client_arguments,
    container_config,
    load_identity,
    lock_user_folder,
    resolve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chinwag-cli",
        description="Chat with people on a chinwag registry, peer to peer, from a terminal.",
    )
    add_client_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="read one JSON command per line on stdin, write one JSON event per line on stdout",
    )
    return parser


def _read_lines(
    stream: TextIO, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]
) -> None:
    """Feed stdin lines to the loop from a thread (works for pipes, files and terminals)."""
    try:
        for line in stream:
            loop.call_soon_threadsafe(lines.put_nowait, line)
    finally:
        loop.call_soon_threadsafe(lines.put_nowait, None)


async def run(
    container: Container, settings: ClientSettings, output: ConsoleOutput, stdin: TextIO
) -> int:
    """Sign in, then run commands from ``stdin`` until quit or end of input. The exit code."""
    assert settings.user is not None
    try:
        await asyncio.to_thread(container.adapters.database)
    except StorageError as exc:
        output.error(exc.code, str(exc))
        return 2
    try:
        return await _session(container, settings, output, stdin)
    finally:
        await asyncio.to_thread(close_storage, container)


async def _session(
    container: Container, settings: ClientSettings, output: ConsoleOutput, stdin: TextIO
) -> int:
    assert settings.user is not None
    use_cases = container.use_cases
    host, port = settings.listen
    try:
        listen = await use_cases.sign_in().execute(settings.user, PeerAddress(host=host, port=port))
    except DomainError as exc:
        output.error(exc.code, with_hint(exc))
        return 2
    me = use_cases.who_am_i().execute()
    output.ready(me.name, listen, me.fingerprint)

    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lines.put_nowait, None)
    threading.Thread(target=_read_lines, args=(stdin, loop, lines), daemon=True).start()
    runner = CommandRunner(
        output,
        use_cases.send_message(),
        use_cases.who_is_online(),
        use_cases.load_history(),
        use_cases.search_history(),
        use_cases.who_am_i(),
        use_cases.verify_contact(),
        use_cases.trust_contact(),
    )
    state = TextState()
    try:
        while (line := await lines.get()) is not None:
            if not line.strip() and settings.json:
                continue
            try:
                command = (
                    parse_json_command(line) if settings.json else parse_text_command(line, state)
                )
            except BadCommand as exc:
                output.error("bad_command", str(exc))
                continue
            if command is None:
                output.info(HELP)
                continue
            if isinstance(command, Quit):
                break
            if await runner.run(command) and isinstance(command, Send) and not settings.json:
                state.chatting_with = command.to  # plain lines now go to them
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await use_cases.sign_out().execute()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = resolve(args)
        if settings.user is None:
            raise StartupError("--user NAME is required (or set CHINWAG_USER)", code="bad_flag")
        lock = lock_user_folder(settings.user_dir(settings.user), settings.user)
        keys = load_identity(settings, settings.user)
        config = container_config(settings, settings.user)
    except StartupError as exc:
        if args.json:
            JsonOutput(sys.stdout).error(exc.code, str(exc))
        print(f"chinwag-cli: {exc}", file=sys.stderr)
        return exc.exit_code
    output: ConsoleOutput = (
        JsonOutput(sys.stdout) if settings.json else TextOutput(sys.stdout, me=settings.user)
    )
    container = Container(events=output)
    container.config.from_dict(config)
    container.adapters.keys.override(providers.Object(keys))
    container.core.init_resources()
    try:
        return run_event_loop(run(container, settings, output, sys.stdin))
    except KeyboardInterrupt:
        return 130
    finally:
        container.core.shutdown_resources()
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
