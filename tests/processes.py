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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chinwag.entrypoints.settings import user_folder_name

Event = dict[str, Any]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "CHINWAG_LOG_LEVEL": "INFO"}


class RegistryProcess:
    """``python -m chinwag.entrypoints.registry``; knows its real port once it listens."""

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
        assert self.proc.stdout is not None
        line = _readline_with_deadline(self.proc, 20)
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        if match is None:
            self.kill()
            raise AssertionError(f"registry did not start: {line!r}")
        self.host, self.port = match.group(1), int(match.group(2))

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


def _limit_file_size(size: int) -> Callable[[], None]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


class CliProcess:
    """``chinwag-cli --json`` as a process: commands in, events collected from a reader thread."""

    def __init__(
        self,
        user: str,
        registry: str,
        data_dir: Path,
        *extra: str,
        max_file_size: int | None = None,
    ) -> None:
        """``max_file_size`` (bytes) makes the disk "full" for this process: no file may grow
        past it (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail instead of killing it)."""
        self.user = user
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
            env=ENV,
            preexec_fn=None if max_file_size is None else _limit_file_size(max_file_size),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
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

    def quit(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self.send(cmd="quit")
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError, ValueError):
                    stream.close()


def start(
    clients: list[CliProcess], user: str, registry: RegistryProcess, data: Path
) -> CliProcess:
    """A ``chinwag-cli --json`` for ``user``, signed in; killed with the ``clients`` fixture."""
    client = CliProcess(user, registry.address, data)
    clients.append(client)
    client.wait_event("ready", user=user)
    return client


def history(data: Path, user: str) -> Path:
    """Where ``user``'s history lives in the data folder ``data``."""
    return data / user_folder_name(user) / "history.sqlite3"
