"""Saved file names: hostile names made safe, numbered copies, as properties over any text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chinwag.domain.filename import (
    FALLBACK,
    MAX_NAME_BYTES,
    MAX_NUMBER,
    numbered,
    safe_filename,
)


@pytest.mark.parametrize(
    ("hostile", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ("/etc/", "etc"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("nul .tar.gz", "_nul .tar.gz"),
        ("Com1.log", "_Com1.log"),
        ("lpt²", "_lpt²"),
        ("console.txt", "console.txt"),
        ("a\u202etxt.exe", "atxt.exe"),
        ("in\u200bvoice\u2066.pdf", "invoice.pdf"),
        ("a\x00b\nc\x1b[31m.txt", "abc[31m.txt"),
        ("..", FALLBACK),
        (".", FALLBACK),
        ("", FALLBACK),
        ("....", FALLBACK),
        ("/", FALLBACK),
        ("\u202e", FALLBACK),
        ("report. . ", "report"),
        ("  spaced  .txt", "spaced  .txt"),
        (".bashrc", "bashrc"),
        ('what? "really" <no>|*:.txt', "what_ _really_ _no____.txt"),
        ("x\ud800y.txt", "xy.txt"),
        ("cafe\u0301.txt", "café.txt"),
        ("photo.jpg", "photo.jpg"),
        ("日本語のファイル.pdf", "日本語のファイル.pdf"),
    ],
)
def test_hostile_names_come_out_safe(hostile: str, safe: str) -> None:
    assert safe_filename(hostile) == safe


def test_a_long_name_is_cut_to_200_bytes_keeping_its_extension() -> None:
    name = safe_filename("x" * 10_000 + ".tar.gz")
    assert len(name.encode("utf-8")) == MAX_NAME_BYTES
    assert name.endswith("x.tar.gz")


def test_a_long_name_is_cut_between_characters_never_inside_one() -> None:
    name = safe_filename("a" + "é" * 49 + "🎉" * 50 + ".png")  # 2 and 4 bytes each
    assert name == "a" + "é" * 49 + "🎉" * 24 + ".png"  # 199 bytes: a 25th would split
    assert len(name.encode("utf-8")) == MAX_NAME_BYTES - 1


def test_a_cut_does_not_part_a_letter_from_its_accents() -> None:
    name = safe_filename("a" * 197 + "e\u0323\u0302" + ".txt")  # e with two marks, no NFC form
    assert name == "a" * 196 + ".txt"


def test_a_very_long_extension_is_no_extension() -> None:
    name = safe_filename("a." + "b" * 500)
    assert name == "a." + "b" * (MAX_NAME_BYTES - 2)


def test_a_cut_leaves_no_trailing_dot_or_space() -> None:
    assert safe_filename("a" + " " * 300) == "a"
    assert safe_filename("a" + ". " * 300 + "b") == "a"


def test_a_cut_that_leaves_a_device_name_is_prefixed_too() -> None:
    assert safe_filename("CON" + " " * 300 + "x.txt") == "_CON.txt"
    cut = safe_filename("CON." + "x" * 300)
    assert cut.startswith("_CON.x")
    assert len(cut.encode("utf-8")) == MAX_NAME_BYTES


@pytest.mark.parametrize(
    ("name", "n", "result"),
    [
        ("photo.jpg", 2, "photo (2).jpg"),
        ("archive.tar.gz", 3, "archive (3).tar.gz"),
        ("Archive.TAR.xz", 2, "Archive (2).TAR.xz"),
        ("README", 2, "README (2)"),
        ("a.b.c", 10, "a.b (10).c"),
        ("../x.txt", 2, "x (2).txt"),
        ("CON", 2, "_CON (2)"),
        ("", 4, "file (4)"),
    ],
)
def test_numbered_puts_the_number_before_the_extension(name: str, n: int, result: str) -> None:
    assert numbered(name, n) == result


def test_numbered_cuts_a_long_name_to_make_room() -> None:
    name = numbered("x" * 10_000 + ".txt", 1000)
    assert len(name.encode("utf-8")) == MAX_NAME_BYTES
    assert name.endswith("x (1000).txt")


@pytest.mark.parametrize("n", [0, -1, MAX_NUMBER + 1])
def test_numbered_refuses_numbers_out_of_range(n: int) -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        numbered("a.txt", n)


# --- properties ---------------------------------------------------------------------------------

_ANY_TEXT = st.lists(
    st.one_of(
        st.characters(codec=None),  # anything, lone surrogates included
        st.sampled_from('/\\.. :<>"|?*\x00\n\u202e\u200b\u0301 '),
        st.sampled_from(["CON", "nul", "com1", ".tar", ".gz", "e\u0301", "🎉", "\u0323\u0302"]),
    ),
    max_size=300,
).map("".join)
_LONG_TEXT = st.builds(
    lambda head, tail: head * 80 + tail, st.text(min_size=1, max_size=6), _ANY_TEXT
)


def _assert_safe(name: str) -> None:
    assert name
    assert name not in {".", ".."}
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    for char in name:
        assert unicodedata.category(char) not in {"Cc", "Cf", "Cs"}, repr(char)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES  # also: no lone surrogate (would raise)
    assert not name.startswith((".", " "))
    assert not name.endswith((".", " "))
    assert unicodedata.normalize("NFC", name) == name


@settings(max_examples=600)
@given(st.one_of(_ANY_TEXT, _LONG_TEXT))
@example("x" * 10_000)
@example("\ud800" * 50)
@example("a" * 199 + "\u0301")
def test_any_text_gives_a_safe_name_and_cleaning_again_changes_nothing(text: str) -> None:
    name = safe_filename(text)
    _assert_safe(name)
    assert safe_filename(name) == name


@settings(max_examples=400)
@given(st.one_of(_ANY_TEXT, _LONG_TEXT), st.integers(min_value=1, max_value=MAX_NUMBER))
def test_numbered_names_are_safe_and_distinct(text: str, n: int) -> None:
    name = numbered(text, n)
    _assert_safe(name)
    assert safe_filename(name) == name
    assert f"({n})" in name
    assert name != safe_filename(text)
