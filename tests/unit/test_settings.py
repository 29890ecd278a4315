from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from chinwag.entrypoints.common import StartupError, parse_address
from chinwag.entrypoints.settings import (
    ClientSettings,
    add_client_arguments,
    resolve,
    user_folder_name,
)


def settings_for(*argv: str, **environ: str) -> ClientSettings:
    parser = argparse.ArgumentParser()
    add_client_arguments(parser)
    return resolve(parser.parse_args(argv), environ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7420", ("127.0.0.1", 7420)),
        ("example.org", ("example.org", 7420)),
        ("[::1]:9000", ("::1", 9000)),
        ("8000", ("localhost", 8000)),
    ],
)
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text, default_port=7420, default_host="localhost") == expected


@pytest.mark.parametrize("text", ["http://127.0.0.1:7420", "host:port", "host:70000", ":80", ""])
def test_bad_addresses_say_why(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_address(text)


def test_flags_win_over_environment_which_wins_over_defaults(tmp_path: Path) -> None:
    env = {"CHINWAG_USER": "Envy", "CHINWAG_REGISTRY": "10.0.0.5:9", "CHINWAG_DATA_DIR": "/x"}
    settings = settings_for("--user", "Alice", "--data-dir", str(tmp_path), **env)
    assert settings.user == "alice"
    assert settings.registry == ("10.0.0.5", 9)
    assert settings.data_dir == tmp_path
    assert settings.listen == ("0.0.0.0", 0)  # the registry is elsewhere: every interface
    local = settings_for("--registry", "127.0.0.1", "--listen", "7441")
    assert local.listen == ("127.0.0.1", 7441)
    assert local.log_level == "WARNING"


def test_bad_settings_are_startup_errors_with_codes() -> None:
    with pytest.raises(StartupError) as caught:
        settings_for("--user", "a b")
    assert caught.value.code == "invalid_username"
    with pytest.raises(StartupError) as caught:
        settings_for("--registry", "http://x")
    assert caught.value.code == "bad_flag"


@pytest.mark.parametrize("name", ["..", "a/b", "alice", "ü.x"])
def test_user_folders_cannot_escape_the_data_folder(name: str) -> None:
    folder = user_folder_name(name)
    assert "/" not in folder
    assert folder not in {".", ".."}
    assert folder.startswith("user-")
