"""Private files and folders: created 0700/0600, never followed through a symbolic link.

Everything chinwag keeps on disk (keys, history, pins, the registry's name book) goes through
these helpers, so another local user cannot read it and a planted link cannot redirect it: a
link named like one of our files could otherwise make chinwag write its keys wherever the link
points, or read someone else's keys as its own.

Modes are given to ``mkdir``/``open`` at creation, so a permissive umask (``000``) cannot widen
them; folders are checked and narrowed through a descriptor opened without following links, so
nothing can swap a link in between the check and the ``chmod``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

FOLDER_MODE = 0o700
FILE_MODE = 0o600

_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})
"""What ``open`` says when ``O_NOFOLLOW`` meets a link: ELOOP (Linux, macOS), EMLINK (FreeBSD)."""
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}
)
"""What ``link`` says on file systems without hard links (FAT, some network and app sandboxes)."""
_OTHERS = 0o077
"""Mode bits that give the group or anybody else access."""


class UnsafePath(OSError):
    """A path where chinwag keeps its data is a symbolic link, or not what it should be."""


def _is_link_error(path: Path) -> UnsafePath:
    return UnsafePath(f"{path} is a symbolic link; chinwag does not follow links in its data")


def private_folder(path: Path, *, narrow: bool = False) -> Path:
    """Make ``path`` (and missing parents) as folders only their owner can use; refuse a link.

    With ``narrow``, the folder must be ours, and one open to others (made by an older chinwag,
    or under a loose umask) becomes 0700; never ask that of a folder the user chose, which may
    be shared on purpose. Without it, an existing folder is left exactly as it is.
    """
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if missing and os.path.lexists(probe) and not os.path.isdir(probe):
        raise UnsafePath(f"{probe} is not a folder, so {path} cannot be made in it")
    for folder in reversed(missing):
        # One made by someone else meanwhile is checked below like any existing folder.
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, FOLDER_MODE)
        except PermissionError:
            raise UnsafePath(f"cannot make the folder {folder}: permission denied") from None
        except NotADirectoryError:
            raise UnsafePath(f"{folder.parent} is not a folder") from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise _is_link_error(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{path} is not a folder")
    if narrow:
        _narrow_folder(path)
    return path


def _narrow_folder(path: Path) -> None:
    """Check the folder is ours and make it 0700, through a descriptor that is not a link."""
    if os.name != "posix" or not _NOFOLLOW:
        os.chmod(path, FOLDER_MODE)  # Windows: modes mean little; links were refused above
        return
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _DIRECTORY | _CLOEXEC)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS or exc.errno == errno.ENOTDIR:
            raise UnsafePath(f"{path} was replaced while chinwag was checking it") from exc
        raise
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise UnsafePath(f"{path} belongs to another user (uid {info.st_uid})")
        if stat.S_IMODE(info.st_mode) != FOLDER_MODE:
            os.fchmod(fd, FOLDER_MODE)
    finally:
        os.close(fd)


def check_not_link(path: Path) -> None:
    """Raise :class:`UnsafePath` if ``path`` exists as a symbolic link (dangling ones too)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _is_link_error(path)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with ``O_NOFOLLOW`` and mode 0600 for a new file; a link is refused.

    Only a regular file is accepted (a FIFO planted under our name would block a read forever;
    ``O_NONBLOCK`` lets the open return so it can be refused). A file opened for writing loses
    any access the group or others had: whatever we write to it is private.
    """
    check_not_link(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | _NONBLOCK, FILE_MODE)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS:  # it became a link between the check and the open
            raise _is_link_error(path) from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f"{path} is not a regular file")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        if flags & (os.O_WRONLY | os.O_RDWR) and info.st_mode & _OTHERS and os.name == "posix":
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~_OTHERS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def narrow_file(path: Path) -> None:
    """Take the group's and others' access away from ``path`` if it exists; refuse a link.

    For files an older chinwag (or SQLite, under the user's umask) made 0644. Only bits are
    removed, never added: a file the user made read-only stays read-only. Call it on files in a
    folder already made private with :func:`private_folder`, where nobody else can swap them.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _is_link_error(path)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(f"{path} is not a regular file")
    if info.st_mode & _OTHERS:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~_OTHERS)


def create_private_file(path: Path) -> None:
    """Make sure ``path`` exists as a regular file of ours, 0600 when made (not a link).

    Used before handing a path to a library that creates files itself (SQLite makes its
    journal and WAL files with the mode of the database file, so they become 0600 too).
    """
    os.close(open_private(path, os.O_WRONLY | os.O_CREAT))


def read_private(path: Path) -> bytes:
    """The bytes of ``path``, refusing a link. ``FileNotFoundError`` if it does not exist."""
    fd = open_private(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as file:
        return file.read()


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (0600): a crash leaves the old or the new file.

    The temporary file has a random name and is created exclusively, so a link planted under
    its name is not followed and two writers never share one; it is removed if anything fails.
    ``rename`` replaces a link at ``path`` itself, never what it points to.
    """
    check_not_link(path)
    temporary = _write_temporary(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
    sync_folder(path.parent)


def create_private(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` (0600) unless it exists; ``True`` if this call made it.

    All or nothing, and first one wins: the data is written and synced under a temporary name,
    then hard-linked to ``path``, which fails if anything (even a dangling link) is there. So
    a reader never sees half a file, and of two processes creating at once, one gets ``False``
    and reads what the other wrote. Where the file system has no hard links, the file is
    created with ``O_EXCL`` and written in place (exclusive still, but a crash while writing
    can leave it short).
    """
    temporary = _write_temporary(path, data)
    try:
        try:
            os.link(temporary, path)  # the source is our own new file, never a link
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            return _create_in_place(path, data)
    finally:
        _remove(temporary)
    sync_folder(path.parent)
    return True


def _create_in_place(path: Path, data: bytes) -> bool:
    try:
        _write_new(path, data)
    except FileExistsError:
        return False
    sync_folder(path.parent)
    return True


def _write_temporary(path: Path, data: bytes) -> Path:
    """``data`` in a new synced 0600 file next to ``path``; nothing is left behind on failure."""
    temporary = _temporary(path)
    _write_new(temporary, data)
    return temporary


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path`` for a file written before it becomes ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (0600, exclusively, never through a link) holding ``data``, synced;
    ``FileExistsError`` if it exists; on any other failure nothing is left behind."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        _remove(path)
        raise


def read_versioned_json(
    data: bytes, *, version: int, max_size: int, damaged: Callable[[str], Exception]
) -> dict[str, object]:
    """The JSON object of one of our small files, checked for size and ``"version"``; else the
    exception ``damaged(why)`` (the caller's words for that file)."""
    if len(data) > max_size:
        raise damaged(f"{len(data)} bytes is far too big")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise damaged("not JSON") from None
    if not isinstance(document, dict):
        raise damaged("not a JSON object")
    found = document.get("version")
    if type(found) is not int or found != version:
        raise damaged(f"unknown version {found!r}; a newer chinwag may have written it")
    return document


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def sync_folder(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable; skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cannot_write_words(target: Path, exc: OSError, what: str = "file") -> str:
    """``cannot write TARGET: WHY``, in plain words and said of ``target`` itself (not of the
    temporary file beside it that the system named); ``what`` names what the person should
    give instead of a folder."""
    if exc.errno == errno.ENOENT:
        why = f"the folder {target.parent} does not exist"
    elif exc.errno == errno.ENOTDIR:
        why = f"{target.parent} is not a folder"
    elif exc.errno == errno.EISDIR:
        why = f"it is a folder; give the name of the {what} to write"
    else:
        text = exc.strerror or str(exc)
        why = text[:1].lower() + text[1:]
    return f"cannot write {target}: {why}"


def unwritable(target: Path) -> OSError | None:
    """The error writing a new file at ``target`` meets at once, found before any work: it
    is a folder, or its folder is missing or not one; None if neither."""
    if target.is_dir():
        return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if not target.parent.is_dir():
        code = errno.ENOTDIR if target.parent.exists() else errno.ENOENT
        return OSError(code, os.strerror(code))
    return None


@contextlib.contextmanager
def written_whole(
    target: Path, failed: Callable[[OSError], Exception], buffering: int = -1
) -> Iterator[BinaryIO]:
    """A new private (0600) file beside ``target`` to write in the block; when the block ends,
    synced and renamed to ``target``, and the folder synced: ``target`` appears whole or not
    at all. On any failure the file is removed and ``target`` left as it was. A failure to write
    that file itself (making, writing, syncing or renaming it) is raised as ``failed(exc)``;
    another ``OSError`` (reading what is copied into it, say) stays as it was."""
    temporary = _temporary(target)
    try:
        fd = open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except OSError as exc:
        raise failed(exc) from None
    try:
        with open(fd, "wb", buffering=buffering) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        _discard(temporary)
        if exc.errno is not None and exc.filename in (None, str(temporary)):
            raise failed(exc) from None
        raise
    except BaseException:
        _discard(temporary)
        raise
    sync_folder(target.parent)


def _discard(path: Path) -> None:
    """Remove a temporary file after a failure, which must stay the error said."""
    with contextlib.suppress(OSError):
        os.unlink(path)
