"""Small helpers shared by the console scripts: logging, addresses, clear start-up failures."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class StartupError(Exception):
    """A reason not to start, said in one line, with the exit code to use."""

    def __init__(self, message: str, exit_code: int = 2, code: str = "startup") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.code = code


def configure_logging(level: str) -> Iterator[None]:
    """Log to stderr (stdout belongs to the program's output) until the resource is shut down."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    try:
        yield
    finally:
        root.removeHandler(handler)


_FLAG_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"unrecognized arguments: (?P<words>.*)"),
        "{prog} does not know {words!r}: every flag is listed by {prog} --help",
    ),
    (
        re.compile(r"argument (?P<flag>[^:/ ]+)(?:/\S+)?: expected one argument"),
        "{flag} needs a value after it (see {prog} --help)",
    ),
    (
        re.compile(r"argument (?P<flag>[^:/ ]+)(?:/\S+)?: expected at least one argument"),
        "{flag} needs a value after it (see {prog} --help)",
    ),
    (
        re.compile(r"ambiguous option: (?P<flag>\S+) could match (?P<matches>.*)"),
        "{flag} could be any of {matches}: write the flag out in full",
    ),
    (
        re.compile(r"argument (?P<flag>[^:/ ]+)(?:/\S+)?: ignored explicit argument (?P<value>.*)"),
        "{flag} takes no value, but was given {value}",
    ),
    (
        re.compile(r"the following arguments are required: (?P<flags>.*)"),
        "{flags} must be given (see {prog} --help)",
    ),
    (
        re.compile(r"argument (?P<flag>[^:/ ]+)(?:/\S+)?: invalid \S+ value: (?P<value>.*)"),
        "{flag}: {value} cannot be used there (see {prog} --help)",
    ),
    (re.compile(r"argument (?P<flag>[^:/ ]+)(?:/\S+)?: (?P<why>.*)"), "{flag}: {why}"),
)


def flag_error(message: str, prog: str) -> str:
    """argparse's complaint about the command line, in chinwag's words (argparse's own where
    we have none): what is wrong, and where to look."""
    for pattern, wording in _FLAG_ERRORS:
        if found := pattern.fullmatch(message):
            return wording.format(prog=prog, **found.groupdict())
    return message


def log_level(text: str) -> str:
    """An argparse type: a logging level name, any case."""
    level = text.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return level


def parse_address(
    text: str, *, default_port: int | None = None, default_host: str | None = None
) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a pair; ``ValueError`` with a clear message.

    With defaults, ``HOST`` alone or ``PORT`` alone (digits) will do."""
    text = text.strip()
    if "://" in text or "/" in text:
        raise ValueError(f"{text!r}: give HOST:PORT, without a scheme or path")
    if text.isdigit():
        text = f":{text}"  # a port alone
    host, sep, port_text = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"{text!r} is not HOST:PORT")
        host, port_text = text, str(default_port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        if default_host is None:
            raise ValueError(f"{text!r} has no host")
        host = default_host
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port must be between 0 and 65535")
    return host, port


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop where uvloop is installed, else asyncio's own (see :func:`run_event_loop`)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop where it is installed (Linux, macOS), else on asyncio's own loop.

    uvloop is a faster drop-in event loop; nothing in chinwag depends on which loop runs.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
