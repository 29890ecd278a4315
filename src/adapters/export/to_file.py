"""An export written to a file, as ``chinwag-cli export`` and the desktop app's menu both write
one: the format from the file's ending, the writer of each format, and a private file that
appears whole or not at all, never over chinwag's own files, and errors said of the file the
person asked for (never of the file written beside it first).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TextIO

from chinwag.adapters.backup.folder import UserFiles
from chinwag.adapters.export.html import HtmlWriter
from chinwag.adapters.export.jsonl import JsonLinesWriter
from chinwag.adapters.export.text import TextWriter
from chinwag.adapters.files import cannot_write_words, unwritable, written_whole
from chinwag.adapters.own_files import refuse_our_files
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


class ExportError(Exception):
    """The export cannot be written where asked; the message says why in one line, naming
    that file."""


def check_target(target: Path, user: str, folder: Path, files: UserFiles) -> None:
    """Refuse, before anything is read or written, a ``target`` among chinwag's own files (in
    ``user``'s ``folder`` or another user's: see :func:`refuse_our_files`), a folder, or one in
    a folder that does not exist."""
    refuse_our_files(
        target.absolute(), folder.absolute(), user, files, writing="the export", refused=ExportError
    )
    if (exc := unwritable(target)) is not None:
        raise cannot_write(target, exc)


def cannot_write(target: Path, exc: OSError) -> ExportError:
    """Why ``target`` cannot be written, in words, said of ``target`` itself."""
    return ExportError(f"{cannot_write_words(target, exc)}; nothing was written")


@contextlib.contextmanager
def private_output(target: Path) -> Iterator[TextIO]:
    """A text stream into a private (0600) file beside ``target``, synced and renamed to it
    when the block ends; removed if the block fails, leaving ``target`` as it was. A failure
    to write it (a missing folder, a read-only or full disk) is an :class:`ExportError` naming
    ``target``."""
    with written_whole(target, lambda exc: cannot_write(target, exc), _BUFFER) as out:
        stream = io.TextIOWrapper(out, encoding="utf-8", errors="backslashreplace", newline="\n")
        try:
            yield stream
        finally:
            stream.detach()  # flushed into the file, which written_whole syncs and closes


def export_to_file(
    source: HistorySource,
    user: str,
    scope: ExportScope,
    target: Path,
    kind: str | None = None,
    *,
    folder: Path | None = None,
    files: UserFiles | None = None,
) -> int:
    """Write ``scope`` of ``user``'s history from ``source`` to ``target`` in ``kind`` (by
    default the format its ending names); how many messages were written. With ``user``'s
    ``folder`` and the ``files`` kept in it, a ``target`` among them is refused first
    (:func:`check_target`)."""
    if folder is not None and files is not None:
        check_target(target, user, folder, files)
    with private_output(target) as out:
        writer = history_writer(kind or format_of(target), out, user)
        return export_history(source, writer, scope)
