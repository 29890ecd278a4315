"""An export written to a file, as ``chinwag-cli export`` and the desktop app's menu both write
one: the format from the file's ending, the writer of each format, and a private file that
appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TextIO

from chinwag.adapters.export.html import HtmlWriter
from chinwag.adapters.export.jsonl import JsonLinesWriter
from chinwag.adapters.export.text import TextWriter
from chinwag.adapters.files import open_private
from chinwag.application.history_export import (
    ExportScope,
    HistorySource,
    HistoryWriter,
    export_history,
)

FORMATS: Final = ("jsonl", "txt", "html")
SUFFIXES: Final = {".html": "html", ".htm": "html", ".txt": "txt", ".jsonl": "jsonl"}
"""The file endings that choose a format; any other ending is JSON lines."""
_BUFFER: Final = 1 << 20


def format_of(path: str | Path) -> str:
    """The format a file's ending asks for (``jsonl`` when it names none)."""
    return SUFFIXES.get(Path(path).suffix.lower(), "jsonl")


def history_writer(kind: str, out: TextIO, user: str) -> HistoryWriter:
    """The writer of the format ``kind`` (one of :data:`FORMATS`), for ``user``'s history."""
    if kind == "html":
        return HtmlWriter(out, user)
    if kind == "txt":
        return TextWriter(out)
    return JsonLinesWriter(out)


@contextlib.contextmanager
def private_output(target: Path) -> Iterator[TextIO]:
    """A text stream into a private (0600) file beside ``target``, synced and renamed to it
    when the block ends; removed if the block fails, leaving ``target`` as it was."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    fd = open_private(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with open(
            fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n", buffering=_BUFFER
        ) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def export_to_file(
    source: HistorySource, user: str, scope: ExportScope, target: Path, kind: str | None = None
) -> int:
    """Write ``scope`` of ``user``'s history from ``source`` to ``target`` in ``kind`` (by
    default the format its ending names); how many messages were written."""
    with private_output(target) as out:
        writer = history_writer(kind or format_of(target), out, user)
        return export_history(source, writer, scope)
