"""``chinwag-cli``: the chat client in a terminal, friendly or as JSON lines for scripts."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from dependency_injector import providers

from chinwag.adapters.console.commands import CommandRunner, with_hint
from chinwag.adapters.console.file_commands import FileUseCases
from chinwag.adapters.console.json_io import ThreadWriter
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.adapters.console.json_session import run_json_session
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.text_output import TextOutput
from chinwag.adapters.console.text_session import run_text_session
from chinwag.adapters.sqlite.database import StorageError
from chinwag.domain.errors import DomainError
from chinwag.entrypoints.common import StartupError, flag_error, run_event_loop
from chinwag.entrypoints.container import Container, close_storage, open_storage
from chinwag.entrypoints.settings import (
    ClientSettings,
    add_client_arguments,
    container_config,
    load_identity,
    lock_user_folder,
    resolve,
)


class FlagError(Exception):
    """A flag that cannot be used; the message says which and why."""


class _Parser(argparse.ArgumentParser):
    """Raises :class:`FlagError` where argparse would print usage and exit, so that ``--json``
    can say it as an ``error`` event."""

    def error(self, message: str) -> NoReturn:
        raise FlagError(flag_error(message, self.prog))


def wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among ``argv``: known before
    parsing, so that a bad flag next to it is refused in JSON too."""
    return any(len(arg) >= 3 and "--json".startswith(arg) for arg in argv)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chinwag-cli",
        description="Chat with people on a chinwag registry, peer to peer, from a terminal.",
        epilog="Your data: chinwag-cli backup|restore|export|import ... (each with --help).",
    )
    add_client_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="read one JSON command per line on stdin, write one JSON event per line on stdout",
    )
    return parser


async def run(
    container: Container, settings: ClientSettings, output: ConsoleOutput, stdin: TextIO
) -> int:
    """Sign in, then run commands from ``stdin`` until quit or end of input. The exit code."""
    assert settings.user is not None
    try:
        await asyncio.to_thread(open_storage, container)
    except StorageError as exc:
        return _failed(settings, output, exc.code, str(exc))
    try:
        return await _session(container, settings, output, stdin)
    finally:
        await asyncio.to_thread(close_storage, container)
        if isinstance(output, JsonOutput):
            await output.close()


async def _session(
    container: Container, settings: ClientSettings, output: ConsoleOutput, stdin: TextIO
) -> int:
    assert settings.user is not None
    use_cases = container.use_cases
    try:
        listen = await use_cases.sign_in().execute(settings.user, settings.listen_address())
    except DomainError as exc:
        return _failed(settings, output, exc.code, with_hint(exc))
    me = use_cases.who_am_i().execute()
    output.ready(me.name, listen, me.fingerprint)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = CommandRunner(
        output,
        use_cases.send_message(),
        use_cases.who_is_online(),
        use_cases.load_history(),
        use_cases.search_history(),
        use_cases.who_am_i(),
        use_cases.verify_contact(),
        use_cases.trust_contact(),
        send_many=use_cases.send_messages(),
        diagnose_self=use_cases.diagnose_self(),
        diagnose_peer=use_cases.diagnose_peer(),
        groups=use_cases.groups(),
        post=use_cases.post_to_group(),
        find_online=use_cases.find_online(),
        watch_people=use_cases.watch_people(),
        files=FileUseCases(
            send=use_cases.send_file(),
            accept=use_cases.accept_file(),
            decline=use_cases.decline_file(),
            cancel=use_cases.cancel_file(),
            list=use_cases.list_transfers(),
        ),
    )
    try:
        if settings.json:
            await run_json_session(stdin, output, runner, stop)
        else:
            await run_text_session(
                stdin,
                output,
                runner,
                stop,
                user_folder=settings.user_dir(settings.user),
                people=use_cases.list_contacts(),
            )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await use_cases.sign_out().execute()
    return 0


def _failed(settings: ClientSettings, output: ConsoleOutput, code: str, text: str) -> int:
    """Say why start-up failed (in JSON mode, on stderr too, as for every start-up failure)."""
    output.error(code, text)
    if settings.json:
        print(f"chinwag-cli: {text}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("backup", "restore"):  # your data, not a chat session
        from chinwag.entrypoints import cli_backup

        return cli_backup.main(argv[0], argv[1:])
    if argv and argv[0] in ("export", "import"):
        from chinwag.entrypoints import cli_export

        return cli_export.main(argv[0], argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except FlagError as exc:
        if wants_json(argv):
            JsonOutput(sys.stdout).error("bad_flag", str(exc))
        parser.print_usage(sys.stderr)
        print(f"chinwag-cli: {exc}", file=sys.stderr)
        return 2
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
        JsonOutput(writer=ThreadWriter(sys.stdout.fileno()))
        if settings.json
        else TextOutput(sys.stdout, me=settings.user)
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
