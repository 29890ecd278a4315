"""Private files and folders on a real disk: modes whatever the umask, links refused, atomic.

Every test runs under a permissive umask (000), so a mode that is right is right because chinwag
asked for it, not because the machine's umask happened to narrow it.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest

from chinwag.adapters.files import (
    UnsafePath,
    create_private,
    create_private_file,
    narrow_file,
    open_private,
    private_folder,
    read_private,
    write_private,
)
from chinwag.entrypoints.common import StartupError
from chinwag.entrypoints.settings import (
    ClientSettings,
    lock_user_folder,
    prepare_user_folder,
    user_folder_name,
)
from tests.support import mode, permissive_umask  # noqa: F401 (a fixture)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and links")
pytestmark = [posix_only, pytest.mark.timeout(30), pytest.mark.usefixtures("permissive_umask")]

IS_ROOT = os.name == "posix" and os.geteuid() == 0


def leftovers(folder: Path) -> list[str]:
    """Temporary files a write left behind (there must be none)."""
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def settings(data_dir: Path) -> ClientSettings:
    return ClientSettings(
        user="alice",
        registry=("127.0.0.1", 7420),
        data_dir=data_dir,
        listen=("127.0.0.1", 0),
        log_level="WARNING",
    )


# --- folders -----------------------------------------------------------------------------------


def test_new_folders_are_0700_all_the_way_down(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    assert private_folder(deep) == deep
    for folder in (tmp_path / "a", tmp_path / "a" / "b", deep):
        assert mode(folder) == 0o700
    assert private_folder(deep) == deep  # again: nothing to do


def test_an_existing_folder_is_left_alone_unless_asked_to_narrow_it(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir(0o755)
    private_folder(folder)
    assert mode(folder) == 0o755  # the user may share it on purpose
    private_folder(folder, narrow=True)
    assert mode(folder) == 0o700


@pytest.mark.parametrize("narrow", [False, True])
def test_a_link_where_a_folder_should_be_is_refused(tmp_path: Path, narrow: bool) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(0o755)
    link = tmp_path / "ours"
    link.symlink_to(elsewhere)
    with pytest.raises(UnsafePath, match="symbolic link"):
        private_folder(link, narrow=narrow)
    assert mode(elsewhere) == 0o755
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafePath, match="symbolic link"):
        private_folder(dangling, narrow=narrow)
    assert not (tmp_path / "nowhere").exists()


def test_a_file_where_a_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(UnsafePath, match="not a folder"):
        private_folder(tmp_path / "plain", narrow=True)


def test_a_file_on_the_way_to_a_folder_is_named_in_the_refusal(tmp_path: Path) -> None:
    # As with ``--data-dir /etc/passwd/chinwag``: not "[Errno 20] Not a directory".
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(UnsafePath, match=r"plain is not a folder, so .*deeper cannot be made"):
        private_folder(tmp_path / "plain" / "deep" / "deeper")


@pytest.mark.skipif(not IS_ROOT, reason="needs root to give a folder to someone else")
def test_a_folder_of_someone_else_is_not_taken_as_ours(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(0o755)
    os.chown(folder, 54321, 54321)
    with pytest.raises(UnsafePath, match="another user"):
        private_folder(folder, narrow=True)
    assert mode(folder) == 0o755


# --- files ---------------------------------------------------------------------------------------


def test_new_files_are_0600(tmp_path: Path) -> None:
    create_private_file(tmp_path / "a")
    write_private(tmp_path / "b", b"bee")
    assert create_private(tmp_path / "c", b"sea")
    for name in "abc":
        assert mode(tmp_path / name) == 0o600
    assert read_private(tmp_path / "b") == b"bee"
    assert read_private(tmp_path / "c") == b"sea"


def test_a_file_opened_for_writing_loses_what_others_could_do_with_it(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_bytes(b"kept")
    os.chmod(path, 0o664)
    os.close(open_private(path, os.O_RDONLY))
    assert mode(path) == 0o664  # reading changes nothing
    os.close(open_private(path, os.O_WRONLY))
    assert mode(path) == 0o600
    assert path.read_bytes() == b"kept"


def test_narrowing_removes_bits_and_never_adds_any(tmp_path: Path) -> None:
    path = tmp_path / "read-only"
    path.write_bytes(b"")
    os.chmod(path, 0o444)
    narrow_file(path)
    assert mode(path) == 0o400
    narrow_file(tmp_path / "missing")  # nothing to do
    assert not (tmp_path / "missing").exists()


def test_replacing_a_file_is_atomic_and_keeps_it_private(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new"
    assert mode(path) == 0o600
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pins.json"
    write_private(path, b"old")

    def broken_replace(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_private(path, b"new")
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_write_that_fails_midway_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output"):
        write_private(tmp_path / "a", b"data")
    with pytest.raises(OSError, match="Input/output"):
        create_private(tmp_path / "b", b"data")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "operation",
    [
        lambda path: read_private(path),
        lambda path: write_private(path, b"secret"),
        lambda path: create_private_file(path),
        lambda path: narrow_file(path),
        lambda path: os.close(open_private(path, os.O_WRONLY | os.O_CREAT)),
    ],
    ids=["read", "write", "create_file", "narrow", "open"],
)
@pytest.mark.parametrize("target_exists", [True, False], ids=["link", "dangling-link"])
def test_a_link_where_a_file_should_be_is_refused_and_nothing_goes_through_it(
    tmp_path: Path, operation: object, target_exists: bool
) -> None:
    target = tmp_path / "target"
    if target_exists:
        target.write_bytes(b"theirs")
        os.chmod(target, 0o644)
    link = tmp_path / "ours"
    link.symlink_to(target)
    assert callable(operation)
    with pytest.raises(UnsafePath, match="symbolic link"):
        operation(link)
    if target_exists:
        assert target.read_bytes() == b"theirs"
        assert mode(target) == 0o644
    else:
        assert not target.exists()
    assert os.path.islink(link)
    assert leftovers(tmp_path) == []


def test_a_link_swapped_in_after_the_check_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``O_NOFOLLOW`` holds when a link appears between the check and the open."""
    target = tmp_path / "target"
    target.write_bytes(b"theirs")
    link = tmp_path / "ours"
    link.symlink_to(target)
    monkeypatch.setattr("chinwag.adapters.files.check_not_link", lambda path: None)
    with pytest.raises(UnsafePath, match="symbolic link"):
        open_private(link, os.O_WRONLY | os.O_TRUNC)
    assert target.read_bytes() == b"theirs"


def test_creating_never_replaces_anything_not_even_a_dangling_link(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert create_private(path, b"first")
    assert not create_private(path, b"second")
    assert path.read_bytes() == b"first"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    assert not create_private(link, b"secret")
    assert not (tmp_path / "nowhere").exists()
    assert leftovers(tmp_path) == []


def test_creating_where_hard_links_are_not_supported_still_creates_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object, **options: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "key"
    assert create_private(path, b"first")
    assert not create_private(path, b"second")
    assert path.read_bytes() == b"first"
    assert mode(path) == 0o600
    assert leftovers(tmp_path) == []


def test_a_fifo_under_our_name_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "identity.key"
    os.mkfifo(fifo)
    with pytest.raises(UnsafePath, match="not a regular file"):
        read_private(fifo)


# --- the user's folder, as a client starts -----------------------------------------------------


def test_a_new_data_folder_and_user_folder_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = settings(data).user_dir("alice")
    with lock_user_folder(folder, "alice"):
        assert mode(data) == 0o700
        assert mode(folder) == 0o700
        assert mode(folder / "lock") == 0o600


def test_an_existing_data_folder_is_not_touched_but_an_old_user_folder_is_narrowed(
    tmp_path: Path,
) -> None:
    data = tmp_path / "shared"
    data.mkdir(0o755)
    folder = data / "user-alice"
    folder.mkdir(0o755)
    (folder / "history.sqlite3").write_bytes(b"")
    os.chmod(folder / "history.sqlite3", 0o644)
    (folder / "lock").write_bytes(b"")
    os.chmod(folder / "lock", 0o666)
    with lock_user_folder(folder, "alice"):
        assert mode(data) == 0o755
        assert mode(folder) == 0o700
        assert mode(folder / "history.sqlite3") == 0o600
        assert mode(folder / "lock") == 0o600


def test_the_data_folder_may_be_a_link_the_user_made(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(0o755)
    (tmp_path / "data").symlink_to(real)
    folder = tmp_path / "data" / "user-alice"
    with lock_user_folder(folder, "alice"):
        assert mode(real / "user-alice") == 0o700


def test_sqlite_files_take_the_private_mode_of_the_history(tmp_path: Path) -> None:
    """Why the history file is made before SQLite opens it: its WAL gets the same mode."""
    folder = tmp_path / "user-alice"
    prepare_user_folder(folder)
    create_private_file(folder / "history.sqlite3")
    with closing(sqlite3.connect(folder / "history.sqlite3")) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
        for name in ("history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"):
            assert mode(folder / name) == 0o600, name


def test_a_planted_link_for_the_user_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(0o755)
    data = tmp_path / "data"
    data.mkdir()
    (data / "user-alice").symlink_to(elsewhere)
    with pytest.raises(StartupError) as caught:
        lock_user_folder(data / "user-alice", "alice")
    assert caught.value.code == "storage"
    assert str(data / "user-alice") in str(caught.value)
    assert os.listdir(elsewhere) == []
    assert mode(elsewhere) == 0o755


@pytest.mark.parametrize(
    "name",
    [
        "identity.key",
        "registries.json",
        "history.sqlite3",
        "lock",
        "input-history",  # the terminal client's
        "preferences.json",  # the desktop app's
    ],
)
def test_a_dangling_link_for_one_of_our_files_is_refused(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "user-alice"
    private_folder(folder)
    (folder / name).symlink_to(tmp_path / "stolen")
    with pytest.raises(StartupError) as caught:
        lock_user_folder(folder, "alice")
    assert caught.value.code == "storage"
    assert str(folder / name) in str(caught.value)
    assert not (tmp_path / "stolen").exists()


def test_a_second_client_for_the_same_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "user-alice"
    with lock_user_folder(folder, "alice"):
        with pytest.raises(StartupError) as caught:
            lock_user_folder(folder, "alice")
        assert caught.value.code == "already_running"
    lock_user_folder(folder, "alice").close()  # free again once the first has gone


def test_the_longest_cjk_name_gets_a_folder(tmp_path: Path) -> None:
    """A 32-character CJK name used to fail with "File name too long"."""
    name = "漢" * 32
    folder = settings(tmp_path).user_dir(name)
    assert folder.parent == tmp_path
    with lock_user_folder(folder, name):
        assert mode(folder) == 0o700


def test_a_folder_made_by_an_older_chinwag_for_a_long_name_is_kept(tmp_path: Path) -> None:
    name = "漢" * 25  # 230 bytes in the first spelling: it worked before, and must still
    legacy = "user-" + quote(name, safe="")
    assert user_folder_name(name) != legacy
    assert settings(tmp_path).user_dir(name) == tmp_path / user_folder_name(name)
    (tmp_path / legacy).mkdir()
    assert settings(tmp_path).user_dir(name) == tmp_path / legacy


def test_a_folder_name_too_long_for_the_disk_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as caught:
        prepare_user_folder(tmp_path / ("x" * 300))
    assert caught.value.code == "storage"
    assert "too long" in str(caught.value).lower()
