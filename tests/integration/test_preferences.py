"""The desktop app's preferences file, and the flag and variable that turn notifications off."""

from __future__ import annotations

import argparse
import logging
import os
import stat
from pathlib import Path

import pytest

from chinwag.adapters.gui.preferences import PREFERENCES_FILE, JsonPreferences, Preferences
from chinwag.entrypoints.common import StartupError
from chinwag.entrypoints.gui import build_parser, notifications_allowed


def test_missing_means_the_defaults_and_a_change_is_kept_privately(tmp_path: Path) -> None:
    store = JsonPreferences(tmp_path)
    assert store.load() == Preferences(notifications=True)
    old = os.umask(0)
    try:
        store.save(Preferences(notifications=False))
    finally:
        os.umask(old)
    assert JsonPreferences(tmp_path).load() == Preferences(notifications=False)
    assert stat.S_IMODE((tmp_path / PREFERENCES_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"version": 99, "notifications": false}', b"x" * 10_000],
)
def test_a_damaged_file_means_the_defaults_with_a_warning(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / PREFERENCES_FILE).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert JsonPreferences(tmp_path).load() == Preferences()
    assert "using the default preferences" in caplog.text


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_link_in_place_of_the_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text('{"version": 1, "notifications": false}')
    (tmp_path / PREFERENCES_FILE).symlink_to(target)
    assert JsonPreferences(tmp_path).load() == Preferences()  # refused, with a warning


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "environ", "allowed"),
    [
        ((), {}, True),
        (("--no-notifications",), {}, False),
        ((), {"CHINWAG_NOTIFICATIONS": "0"}, False),
        ((), {"CHINWAG_NOTIFICATIONS": "off"}, False),
        ((), {"CHINWAG_NOTIFICATIONS": "1"}, True),
        (("--no-notifications",), {"CHINWAG_NOTIFICATIONS": "1"}, False),
    ],
)
def test_notifications_are_off_for_a_run_by_flag_or_environment(
    argv: tuple[str, ...], environ: dict[str, str], allowed: bool
) -> None:
    assert notifications_allowed(args(*argv), environ) is allowed


def test_a_bad_value_of_the_variable_is_a_clear_error() -> None:
    with pytest.raises(StartupError, match="CHINWAG_NOTIFICATIONS must be 1 or 0"):
        notifications_allowed(args(), {"CHINWAG_NOTIFICATIONS": "maybe"})
