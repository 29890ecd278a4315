"""Names for received files: what a sender claims, made safe to create on any disk.

An offer's name is the sender's word, and the sender may be hostile: ``../../etc/passwd`` would
climb out of the downloads folder, ``CON.txt`` is a device on Windows, ``invoice\\u202etxt.exe``
shows as ``invoiceexe.txt`` in a right-to-left override, a name of 10,000 characters fails on
every file system (most allow 255 bytes). :func:`safe_filename` keeps what a person would
recognise and drops the rest; :func:`numbered` makes the ``photo (2).jpg`` that goes next to an
existing ``photo.jpg`` instead of over it.

Both are pure (no disk), total (any text gives a name) and stable: a safe name is its own safe
name, so cleaning twice (sender and recipient, or recipient and store) changes nothing.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 200
"""Bytes of UTF-8 in a saved name: under the 255 of ext4, APFS, NTFS (in UTF-16 units), with room
for ``" (999)"``, and for the partial file's longer name of its own."""
MAX_EXTENSION_BYTES = 32
"""A longer "extension" is not one (``a.<500 letters>``): it is cut like the rest of the name."""
MAX_NUMBER = 999_999
"""The largest ``n`` of :func:`numbered` (a store gives up long before)."""
FALLBACK = "file"
"""The name of a file whose name has nothing left once cleaned (``..``, ``///``, empty)."""

_SEPARATORS = str.maketrans({"\\": "/"})
_RESERVED = str.maketrans(dict.fromkeys('<>:"|?*', "_"))
"""Characters Windows refuses in a name; replaced, so ``a:b`` stays readable as ``a_b``."""
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Control characters (NUL, newline, escape), format characters (bidi overrides, zero-width
joiners and spaces, soft hyphens), surrogates, and the line and paragraph separators."""
_STRIPPED = ". "
"""Windows drops trailing dots and spaces (two names that differ there are one file); a leading
dot hides a file on POSIX. Both go from the ends."""
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"}
)
"""Windows device names: ``CON``, ``con.txt``, even ``nul .tar.gz`` open the device, not a
file (the part before the first dot, trailing spaces ignored, any case)."""
_COMPOUND = ".tar"
"""The one inner extension kept with the last: ``archive.tar.gz`` numbers as
``archive (2).tar.gz``, not ``archive.tar (2).gz``."""


def safe_filename(name: str) -> str:
    """A name that is safe to create in a folder, from whatever a sender claimed.

    The last path component only (``/`` and ``\\`` both separate), NFC, without control, format
    (bidi, zero-width) or surrogate characters, with ``<>:"|?*`` replaced by ``_``, without
    leading or trailing dots and spaces, a Windows device name prefixed with ``_``, at most
    :data:`MAX_NAME_BYTES` bytes of UTF-8 (the extension kept, never half a character); and
    :data:`FALLBACK` when nothing is left. ``safe_filename(safe_filename(x)) == safe_filename(x)``.
    """
    cleaned = unicodedata.normalize("NFC", "".join(_kept(char) for char in name))
    components = [part.strip(_STRIPPED) for part in cleaned.translate(_SEPARATORS).split("/")]
    last = next((part for part in reversed(components) if part), "")
    if not last:
        return FALLBACK
    return _fit(last.translate(_RESERVED), MAX_NAME_BYTES)


def numbered(name: str, n: int) -> str:
    """``name`` as the ``n``-th of its kind: ``photo (2).jpg``, ``archive (3).tar.gz``.

    The number goes before the extension (and before ``.tar`` of ``.tar.gz`` and the like) and
    the name is cleaned first and cut to make room, so the result is as safe as
    :func:`safe_filename`'s and within the same bound.
    """
    if not 1 <= n <= MAX_NUMBER:
        raise ValueError(f"a file is numbered from 1 to {MAX_NUMBER}, not {n}")
    stem, extension = _split(safe_filename(name))
    suffix = f" ({n}){extension}"
    return _cut(stem, MAX_NAME_BYTES - _size(suffix)) + suffix


def _kept(char: str) -> str:
    """``char``, or nothing if it has no place in a name (see ``_DROPPED_CATEGORIES``)."""
    if unicodedata.category(char) in _DROPPED_CATEGORIES or _is_noncharacter(char):
        return ""
    return char


def _is_noncharacter(char: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane: never text."""
    point = ord(char)
    return 0xFDD0 <= point <= 0xFDEF or (point & 0xFFFE) == 0xFFFE


def _fit(name: str, limit: int) -> str:
    """``name`` (clean, not empty, no leading dot or space) cut to ``limit`` bytes keeping its
    extension, and a device name made harmless; the cut never leaves a trailing dot or space."""
    if _size(name) > limit:
        stem, extension = _split(name)
        name = _cut(stem, limit - _size(extension)) + extension
    if _is_device(name):
        name = "_" + name
        if _size(name) > limit:  # "_" starts it now, so cutting again cannot make a device
            stem, extension = _split(name)
            name = _cut(stem, limit - _size(extension)) + extension
    return name


def _split(name: str) -> tuple[str, str]:
    """``(stem, extension)``: ``("photo", ".jpg")``, ``("archive", ".tar.gz")``, ``("a", "")``.

    The stem is never empty (``.bashrc`` has no extension, but safe names have no leading dot
    anyway); an extension longer than :data:`MAX_EXTENSION_BYTES`, or with a space in it
    (``notes. final``), is no extension.
    """
    stem, dot, last = name.rpartition(".")
    if not dot or not stem or " " in last or _size(last) + 1 > MAX_EXTENSION_BYTES:
        return name, ""
    extension = "." + last
    inner = stem.rpartition(".")
    if inner[1] and inner[0] and "." + inner[2].lower() == _COMPOUND:
        return inner[0], "." + inner[2] + extension
    return stem, extension


def _cut(stem: str, budget: int) -> str:
    """The longest start of ``stem`` within ``budget`` bytes of UTF-8, whole characters only,
    not ending between a letter and its accents, nor with a dot or space; never empty (a safe
    stem starts with a character that is kept, and every budget here has room for one)."""
    if _size(stem) <= budget:
        return stem
    kept = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    whole = len(kept)
    while whole > 1 and unicodedata.category(stem[whole])[0] == "M":
        whole -= 1  # the next character is a mark of the last one kept: do not part them
    if whole > 1 or unicodedata.category(stem[whole])[0] != "M":
        kept = kept[:whole]
    return kept.rstrip(_STRIPPED) or kept[:1]


def _is_device(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").upper() in _DEVICES


def _size(text: str) -> int:
    return len(text.encode("utf-8"))
