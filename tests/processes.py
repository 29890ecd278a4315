"""Real chinwag processes for black-box tests: a registry and JSON-mode CLI clients."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from chinwag.entrypoints.settings import (
    HISTORY_FILE,
    ClientSettings,
    container_config,
    prepare_user_folder,
    user_folder_name,
)

Event = dict[str, Any]
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")},  # flags only
    "PYTHONUNBUFFERED": "1",
    "CHINWAG_LOG_LEVEL": "INFO",
}


class RegistryProcess:
    """``python -m chinwag.entrypoints.registry``; knows its real port and its key's fingerprint
    once it listens (its two first lines of output). Its log (stderr) is read all along, so a
    chatty registry never blocks on a full pipe."""

    def __init__(
        self, port: int = 0, extra: tuple[str, ...] = (), data_dir: Path | None = None
    ) -> None:
        if data_dir is None:  # removed when this object goes, not when the process does
            self._own_dir = tempfile.TemporaryDirectory(prefix="chinwag-registry-")
            data_dir = Path(self._own_dir.name)
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chinwag.entrypoints.registry",
                "--port",
                str(port),
                "--data-dir",
                str(self.data_dir),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.stderr_lines: list[str] = []
        threading.Thread(
            target=_drain, args=(self.proc.stderr, self.stderr_lines), daemon=True
        ).start()
        line = _readline_with_deadline(self.proc, 20)
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        key_line = _readline_with_deadline(self.proc, 20) if match else ""
        key = re.fullmatch(r"chinwag-registry key (.+)\n", key_line)
        if match is None or key is None:
            self.kill()
            raise AssertionError(
                f"registry did not start: {line!r} {key_line!r}; stderr: {self.log()}"
            )
        self.host, self.port = match.group(1), int(match.group(2))
        self.fingerprint = key.group(1)
        """The registry's key as it prints it (what ``--registry-key`` takes)."""

    def log(self) -> str:
        """The last lines it logged."""
        return "".join(self.stderr_lines[-10:])

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(10)
        self.kill()
        return code


def _readline_with_deadline(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def _drain(stream: IO[str] | None, lines: list[str]) -> None:
    assert stream is not None
    with contextlib.suppress(ValueError, OSError):  # closed by kill()
        for line in stream:
            lines.append(line)


def _in_child(
    max_file_size: int | None, umask: int | None, raisable: bool = False
) -> Callable[[], None] | None:
    """What to do in the child before it runs chinwag: a file size limit (``raisable``: only
    the soft one, so a test can lift it later with ``resource.prlimit``), a umask."""
    if max_file_size is None and umask is None:
        return None

    def prepare() -> None:
        if max_file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            hard = resource.RLIM_INFINITY if raisable else max_file_size
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_size, hard))
        if umask is not None:
            os.umask(umask)

    return prepare


class CliProcess:
    """``chinwag-cli --json`` as a process: commands in, events collected from a reader thread."""

    def __init__(
        self,
        user: str,
        registry: str,
        data_dir: Path,
        *extra: str,
        max_file_size: int | None = None,
        env: dict[str, str] | None = None,
        umask: int | None = None,
        raisable: bool = False,
    ) -> None:
        """``max_file_size`` (bytes) makes the disk "full" for this process: no file may grow
        past it (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail instead of killing it).
        ``env`` adds to (or overrides) the environment, e.g. ``CHINWAG_REGISTRY_KEY``;
        ``umask`` is the process's umask (``0`` to check chinwag sets its modes itself);
        ``raisable``: the size limit is a soft one, which :meth:`free_disk` lifts."""
        self.user = user
        self.data = data_dir
        self.events: list[Event] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chinwag.entrypoints.cli",
                "--json",
                "--user",
                user,
                "--registry",
                registry,
                "--data-dir",
                str(data_dir),
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env={**ENV, **(env or {})},
            preexec_fn=_in_child(max_file_size, umask, raisable),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr_lines: list[str] = []
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith("\n"):
                # Only the last line can lack its newline: that of a process killed while
                # writing it (SIGKILL in the crash tests). Every whole line must parse.
                break
            event = json.loads(line)
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def all_events(self, timeout: float = 15.0) -> list[Event]:
        """Every event it wrote, once it has exited and its output was read to the end."""
        self.proc.wait(timeout)
        self._reader.join(timeout)
        assert not self._reader.is_alive(), f"{self.user}: stdout still open after {timeout}s"
        return list(self.events)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def send_all(self, commands: Iterable[Event]) -> None:
        """Pipe every command at once (one write), as a script in a hurry does."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(json.dumps(command) + "\n" for command in commands))
        self.proc.stdin.flush()

    def wait_for(
        self,
        predicate: Callable[[Event], bool],
        timeout: float = 15.0,
        what: str = "",
        since: int = 0,
    ) -> Event:
        """The first event from index ``since`` on (seen or arriving) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{self.user}: no event {what or predicate} within {timeout}s; "
                        f"events: {self.events[-10:]}; stderr: {''.join(self.stderr_lines[-10:])}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_count(self, count: int, kind: str, timeout: float = 30.0, **fields: Any) -> None:
        """Until ``count`` events ``kind`` with these fields were seen (counted once each, so
        tens of thousands of events cost no more than reading them)."""
        deadline = time.monotonic() + timeout
        seen, found = 0, 0
        with self._changed:
            while True:
                for event in self.events[seen:]:
                    found += event.get("event") == kind and all(
                        event.get(k) == v for k, v in fields.items()
                    )
                seen = len(self.events)
                if found >= count:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{self.user}: {found} of {count} events {kind} {fields} within "
                        f"{timeout}s; stderr: {''.join(self.stderr_lines[-10:])}"
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_event(self, kind: str, timeout: float = 15.0, since: int = 0, **fields: Any) -> Event:
        return self.wait_for(
            lambda e: e.get("event") == kind and all(e.get(k) == v for k, v in fields.items()),
            timeout,
            f"{kind} {fields}",
            since,
        )

    def wait_online(self, *names: str, timeout: float = 15.0, since: int = 0) -> Event:
        return self.wait_for(
            lambda e: e.get("event") == "presence" and set(names) <= set(e["online"]),
            timeout,
            f"presence with {names}",
            since,
        )

    def mark(self) -> int:
        """The number of events so far, to wait only for later ones."""
        with self._changed:
            return len(self.events)

    def count(self, kind: str, **fields: Any) -> int:
        with self._changed:
            return sum(
                1
                for e in self.events
                if e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())
            )

    def of(self, kind: str, since: int = 0, **fields: Any) -> list[Event]:
        """Every ``kind`` event so far (from index ``since`` on) with these fields, in order."""
        with self._changed:
            return [
                e
                for e in self.events[since:]
                if e.get("event") == kind and all(e.get(k) == v for k, v in fields.items())
            ]

    def ask(self, reply: str, command: Event, timeout: float = 15.0) -> Event:
        """Send ``command`` and wait for the next ``reply`` event (or an ``error``)."""
        mark = self.mark()
        self.send(**command)
        return self.wait_for(
            lambda e: e.get("event") in (reply, "error"), timeout, f"{reply} or error", mark
        )

    def history(self, peer: str, limit: int = 500) -> list[Event]:
        """The stored conversation with ``peer``, oldest first."""
        answer = self.ask("history", {"cmd": "history", "with": peer, "limit": limit})
        assert answer["event"] == "history", answer
        messages: list[Event] = answer["messages"]
        return messages

    def exit_code(self, timeout: float = 15.0) -> int:
        """Wait for the process to end on its own; its exit code, once all it printed is read."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def log_after_exit(self, timeout: float = 15.0) -> str:
        """Everything the process logged (stderr), once it has ended."""
        self.proc.wait(timeout)
        self._stderr_reader.join(timeout)
        return "".join(self.stderr_lines)

    def quit(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self.send(cmd="quit")
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        return code

    def free_disk(self) -> None:
        """Lift a ``raisable`` file size limit: the "disk" has room again."""
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, unlimited)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError, ValueError):
                    stream.close()


def start(
    clients: list[CliProcess],
    user: str,
    registry: RegistryProcess,
    data: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    umask: int | None = None,
) -> CliProcess:
    """A ``chinwag-cli --json`` for ``user``, signed in; killed with the ``clients`` fixture."""
    client = launch(clients, user, registry, data, *extra, env=env, umask=umask)
    client.wait_event("ready", user=user)
    return client


def launch(
    clients: list[CliProcess],
    user: str,
    registry: RegistryProcess,
    data: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    umask: int | None = None,
) -> CliProcess:
    """A ``chinwag-cli --json`` for ``user``, just started (it may yet be refused); killed with
    the ``clients`` fixture."""
    client = CliProcess(user, registry.address, data, *extra, env=env, umask=umask)
    clients.append(client)
    return client


def refused(client: CliProcess, code: str, timeout: float = 15.0) -> Event:
    """``client`` stops at start with one ``error`` event of ``code`` and exit code 2, having
    said nothing else (no ``ready``)."""
    error = client.wait_event("error", code=code, timeout=timeout)
    assert client.exit_code(timeout) == 2, client.stderr_lines
    assert [e["event"] for e in client.events] == ["error"], client.events
    return error


def release(data_dir: Path, name: str) -> subprocess.CompletedProcess[str]:
    """``chinwag-registry release NAME --data-dir DIR``, run to its end."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "chinwag.entrypoints.registry"),
            *("release", name, "--data-dir", str(data_dir)),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=ENV,
        timeout=30,
        check=False,
    )


def user_folder(data: Path, user: str) -> Path:
    """``user``'s own folder in the data folder ``data``."""
    return data / user_folder_name(user)


def history(data: Path, user: str) -> Path:
    """Where ``user``'s history lives in the data folder ``data``."""
    return user_folder(data, user) / HISTORY_FILE


def client_config(
    data: Path, user: str, registry_port: int, synchronous: str = "NORMAL"
) -> dict[str, object]:
    """The container configuration ``chinwag-cli --user USER --data-dir DATA`` would run with
    (``container_config``), for clients built in the test's own process; the user's folder is
    prepared as the CLI prepares it (0700, for the identity key made at first use)."""
    settings = ClientSettings(
        user=user,
        registry=("127.0.0.1", registry_port),
        data_dir=data,
        listen=("127.0.0.1", 0),
        log_level="WARNING",
    )
    prepare_user_folder(settings.user_dir(user))
    config = container_config(settings, user)
    adapters = config["adapters"]
    assert isinstance(adapters, dict)
    adapters["synchronous"] = synchronous
    return config
