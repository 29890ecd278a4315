from __future__ import annotations

import argparse
import base64
import errno
import json
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from chinwag.adapters.registry.endpoints import parse_endpoint
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import PeerAddress, normalize_username
from chinwag.entrypoints.common import StartupError, parse_address
from chinwag.entrypoints.settings import (
    ClientSettings,
    add_client_arguments,
    container_config,
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


# --- the registry's key ------------------------------------------------------------------------

FINGERPRINT = "abcd efgh ijkl mnop qrst uvwx yz23 4567 abcd efgh ijkl mnop qrst"
"""Any 52 base32 letters make a fingerprint in canonical form (groups of four)."""


def test_no_registry_key_means_trust_on_first_use() -> None:
    assert settings_for().registry_key is None
    assert settings_for(CHINWAG_REGISTRY_KEY="").registry_key is None


def test_a_registry_key_is_normalised_and_the_flag_wins_over_the_environment() -> None:
    typed = FINGERPRINT.replace(" ", "").upper()
    assert settings_for("--registry-key", typed).registry_key == FINGERPRINT
    other = "2222" * 13
    settings = settings_for("--registry-key", typed, CHINWAG_REGISTRY_KEY=other)
    assert settings.registry_key == FINGERPRINT
    assert settings_for(CHINWAG_REGISTRY_KEY=other).registry_key == " ".join(["2222"] * 13)


@pytest.mark.parametrize("text", ["abcd", "0000" * 13, FINGERPRINT + "a", "ab!d" * 13])
def test_a_bad_registry_key_is_a_bad_flag_that_says_why(text: str) -> None:
    with pytest.raises(StartupError) as caught:
        settings_for("--registry-key", text)
    assert caught.value.code == "bad_flag"
    assert "--registry-key" in str(caught.value)
    assert "52" in str(caught.value)


def test_the_help_says_what_the_registry_key_is() -> None:
    parser = argparse.ArgumentParser()
    add_client_arguments(parser)
    (action,) = [a for a in parser._actions if "--registry-key" in a.option_strings]
    assert action.help is not None
    assert action.help.startswith(
        "pin the registry's key: its fingerprint as `chinwag-registry` prints it; "
        "refuses any other key"
    )
    assert action.metavar == "FINGERPRINT"


# --- what the container is told ------------------------------------------------------------


def test_container_config_names_the_users_files_and_reads_nothing() -> None:
    settings = settings_for(
        "--data-dir",
        "/nonexistent/chinwag",
        "--registry",
        "example.org:9",
        "--registry-key",
        FINGERPRINT,
    )
    config = container_config(settings, "alice")
    folder = Path("/nonexistent/chinwag/user-alice")
    assert config["adapters"] == {
        "database_path": folder / "history.sqlite3",
        "synchronous": "FULL",
        "registry_endpoints": (parse_endpoint("example.org:9"),),
        "keys_path": folder / "identity.key",
        "pins_path": folder / "registries.json",
        "registry_key": FINGERPRINT,
        "downloads": None,
    }
    assert config["core"] == {"log_level": "WARNING"}
    assert config["use_cases"] == {"files": {"max_size": 4 * 2**30, "auto_accept": 0}}
    assert not Path("/nonexistent").exists()


def test_file_flags_take_sizes_and_a_downloads_folder(tmp_path: Path) -> None:
    settings = settings_for(
        "--downloads",
        str(tmp_path / "in"),
        "--max-file-size",
        "1.5G",
        "--auto-accept-size",
        "20M",
    )
    assert settings.downloads == tmp_path / "in"
    assert settings.files.max_size == 3 * 2**29
    assert settings.files.auto_accept == 20 * 2**20
    config = container_config(settings, "alice")
    assert config["use_cases"] == {"files": {"max_size": 3 * 2**29, "auto_accept": 20 * 2**20}}


@pytest.mark.parametrize("size", ["lots", "-1", "2T", "1.5.2G"])
def test_a_bad_size_flag_is_one_clear_error(size: str) -> None:
    with pytest.raises(StartupError, match="--max-file-size"):
        settings_for("--max-file-size", size)


def test_container_config_has_no_registry_key_unless_given() -> None:
    config = container_config(settings_for("--data-dir", "/nonexistent"), "bob")
    adapters = config["adapters"]
    assert isinstance(adapters, dict)
    assert adapters["registry_key"] is None
    assert "session" not in adapters


# --- user folder names -----------------------------------------------------------------------

LONGEST_NAMES = {
    "latin": "a" * 32,
    "dots": "." * 32,
    "percent": "%" * 32,
    "greek": "α" * 32,
    "arabic": "ب" * 32,
    "cjk": "漢" * 32,
    "cjk-extension-b": "\U00020000" * 32,  # 4 bytes of UTF-8 each: the longest there is
    "hiragana": "あ" * 32,
    "hangul": "한" * 32,
    "devanagari": ("नमस्ते" * 6)[:32],
    "thai": "ก" * 32,
    "tamil": "ஸ்ரீ" * 8,
}


@pytest.mark.parametrize("raw", LONGEST_NAMES.values(), ids=LONGEST_NAMES.keys())
def test_the_longest_names_of_every_script_make_a_valid_file_name(raw: str) -> None:
    name = normalize_username(raw)
    assert len(name) == 32
    folder = user_folder_name(name)
    assert len(folder.encode("utf-8")) <= 255
    assert folder.isascii()
    assert "/" not in folder
    assert folder.startswith(("user-", "user~"))


def test_emoji_names_are_not_allowed_anyway() -> None:
    with pytest.raises(InvalidUsername):
        normalize_username("😀")


@pytest.mark.parametrize("name", ["alice", "ü.x", "漢" * 21, "%" * 32, "..", "a/b"])
def test_names_that_fit_keep_their_folder_spelling(name: str) -> None:
    """Existing users keep their history: the spelling older versions used, unchanged."""
    assert user_folder_name(name) == "user-" + quote(name, safe="").replace(".", "%2E")


def test_long_names_get_the_compact_spelling_which_no_old_spelling_can_take() -> None:
    long = "漢" * 22  # 5 + 22 * 9 = 203 bytes in the first spelling
    folder = user_folder_name(long)
    assert folder.startswith("user~")
    assert folder == "user~" + base64.b32encode(long.encode()).decode().rstrip("=").lower()
    # "~" is left as it is by percent-encoding, but the first spelling always has "-" there.
    assert not user_folder_name("~" + "a" * 31).startswith("user~")


def test_folder_names_never_collide() -> None:
    names = [normalize_username(raw) for raw in LONGEST_NAMES.values()]
    names += ["漢" * n for n in range(1, 33)] + ["\U00020000" * n for n in range(1, 33)]
    names += ["a", "a.", "a%2e", "a%2E", "user-a", "user~a", "~", "-"]
    folders = {user_folder_name(name) for name in names}
    assert len(folders) == len(set(names))


@pytest.mark.parametrize("registry", ["127.1:7420", "0x7f.1", "bad host:1", "a\nb:1"])
def test_a_registry_host_must_be_an_ip_literal_or_a_hostname(registry: str) -> None:
    # One spelling per registry: its key is pinned under it, so 127.1 is not a second 127.0.0.1.
    with pytest.raises(StartupError) as caught:
        settings_for("--registry", registry)
    assert caught.value.code == "bad_flag"


def test_a_registry_host_is_kept_in_its_standard_form() -> None:
    assert settings_for("--registry", "LocalHost:9").registry == ("localhost", 9)
    assert settings_for("--registry", "[0:0::1]:9").registry == ("::1", 9)


def test_a_bad_flag_next_to_json_is_a_json_error_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from chinwag.entrypoints.cli import main, wants_json

    assert wants_json(["--user", "a", "--js"]) and not wants_json(["--user", "a"])
    for argv, says in [
        (["--json", "--port", "abc"], "chinwag-cli does not know '--port abc'"),
        (["--json", "--registry"], "--registry needs a value after it"),
        (["--json", "--re", "x"], "--re could be any of --registry, --registry-key"),
        (["--json", "--user"], "--user needs a value after it"),
        (["--json", "--listen", "a b"], "--listen: 'a b' is not a valid host"),
    ]:
        assert main(argv) == 2
        out, err = capsys.readouterr()
        (event,) = [json.loads(line) for line in out.splitlines()]
        assert event["event"] == "error" and event["code"] == "bad_flag"
        assert says in event["message"] and says in err
        assert "argument" not in event["message"]  # argparse's wording is not ours


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), "address_in_use", "already in use"),
        (OSError(errno.EADDRNOTAVAIL, "x"), "address_unavailable", "not an address of this"),
        (socket.gaierror(-2, "Name or service not known"), "address_unavailable", "no host"),
        (OSError(errno.EACCES, "Permission denied"), "address_unavailable", "permission"),
    ],
)
def test_a_listen_failure_says_what_is_wrong(error: OSError, code: str, says: str) -> None:
    from chinwag.adapters.transport.tcp import listen_refusal

    refusal = listen_refusal(PeerAddress(host="192.0.2.1", port=5), error)
    assert refusal.code == code and says in str(refusal)
