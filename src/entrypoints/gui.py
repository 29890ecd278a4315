"""``chinwag``: the desktop app. Tk on the main thread, the network on a thread of its own."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import queue
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from chinwag.adapters.gui.bridge import Item, NetworkThread, QueueEvents, QueuePump, QueueRunner
from chinwag.adapters.gui.notifier import Notifier
from chinwag.adapters.gui.notify_desktop import DesktopNotifications
from chinwag.adapters.gui.presenter import ChatPresenter
from chinwag.adapters.gui.presenter_data import DataPart
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.errors import AddressInUse
from chinwag.entrypoints.common import (
    LOG_FORMAT,
    StartupError,
    new_event_loop,
)
from chinwag.entrypoints.gui_session import ContainerSession, FolderRestorer
from chinwag.entrypoints.registry import open_registry_state
from chinwag.entrypoints.settings import (
    ClientSettings,
    add_client_arguments,
    resolve,
)

if TYPE_CHECKING:
    import tkinter

log = logging.getLogger(__name__)

NO_DISPLAY = (
    "chinwag: no display available ({reason}); in a terminal, use chinwag-cli instead "
    "(make cli, or .venv/bin/chinwag-cli --user NAME)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chinwag",
        description="The chinwag desktop app. Without --user it asks who you are.",
    )
    add_client_arguments(parser)
    parser.add_argument(
        "--no-notifications",
        action="store_true",
        help="no desktop notifications this run, whatever the Chat menu says "
        "(env CHINWAG_NOTIFICATIONS=0)",
    )
    return parser


_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def notifications_allowed(
    args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> bool:
    """Whether this run may notify: ``--no-notifications`` > ``CHINWAG_NOTIFICATIONS`` > yes.

    Off here is off for this run only; the setting the Chat menu stores is not changed."""
    if getattr(args, "no_notifications", False):
        return False
    value = environ.get("CHINWAG_NOTIFICATIONS", "").strip().lower()
    if not value or value in _ON:
        return True
    if value in _OFF:
        return False
    raise StartupError(
        f"CHINWAG_NOTIFICATIONS must be 1 or 0 (on or off), not {value!r}", code="bad_flag"
    )


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LocalRegistry:
    """A registry server this app started, with the name book it owns."""

    def __init__(self, server: RegistryServer, names: NameBook) -> None:
        self.server = server
        self._names = names

    async def close(self) -> None:
        try:
            await self.server.close()
        finally:
            self._names.close()  # the writer thread, and the WAL merged into the file


async def _start_registry(host: str, port: int, data_dir: Path) -> LocalRegistry:
    keys, names = open_registry_state(data_dir)
    try:
        server = RegistryServer(host, port, names=names, security=Security(keys))
        await server.start()
    except BaseException:
        names.close()
        raise
    return LocalRegistry(server, names)


def start_local_registry(
    network: NetworkThread, host: str, port: int, data_dir: Path
) -> LocalRegistry | None:
    """A registry for this app's lifetime when none answers at a local address; else None
    (also when one cannot be started there: signing in then says the registry is unreachable).

    Its key and names live in ``data_dir`` itself, where ``chinwag-registry`` (and ``make cli``,
    ``make registry``) keep them by default: whichever starts the local registry, it is the same
    one to the clients that pinned its key."""
    if port == 0 or not is_local(host) or answers(host, port):
        return None
    try:
        registry = network.submit(_start_registry(host, port, data_dir)).result(10)
    except AddressInUse:
        return None  # somebody else just started one: use theirs
    except (OSError, StorageError) as exc:  # its files cannot be used: no local registry
        log.warning("could not start a local registry at %s:%s: %s", host, port, exc)
        return None
    log.info("no registry answered at %s:%s; started one for this session", host, port)
    return registry


def open_window() -> tkinter.Tk:
    """A Tk root, or StartupError when there is no display to open it on."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise StartupError(NO_DISPLAY.format(reason="DISPLAY is not set"))
    try:
        import tkinter
    except ImportError:
        raise StartupError(
            "chinwag: this Python has no Tk (install your system's python3-tk); "
            "in a terminal, use chinwag-cli instead"
        ) from None
    try:
        return tkinter.Tk(className="chinwag")
    except tkinter.TclError as exc:
        raise StartupError(NO_DISPLAY.format(reason=exc)) from None


SIGNAL_TICK_MS = 100
"""How often the Tk thread looks whether Ctrl-C or SIGTERM asked it to close."""


class DesktopApp:
    """The window, the presenter and the network thread of one run of the app, wired."""

    def __init__(
        self,
        root: tkinter.Tk,
        settings: ClientSettings,
        *,
        notifications: bool = True,
        notifier: Notifier | None = None,
    ) -> None:
        """``notifications`` False: none this run (the flag); ``notifier`` replaces the desktop
        one (tests)."""
        from chinwag.adapters.gui.tk_view import TkChatView

        self.root = root
        self.settings = settings
        self.network = NetworkThread(new_event_loop)
        self.network.start()
        registries = settings.registries
        # Only one registry of this machine's, over TCP, is one this app could stand in for.
        self.registry = (
            start_local_registry(self.network, *settings.registry, settings.data_dir)
            if len(registries) == 1 and not registries[0].websocket
            else None
        )
        self.items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        events = QueueEvents(self.items)

        def sessions(user: str, address: str) -> ContainerSession:
            return ContainerSession(settings, user, address, events)

        self.notifier = notifier or DesktopNotifications(self.network.submit, self.items.put)
        runner = QueueRunner(self.network, self.items)
        self.presenter = ChatPresenter(
            runner,
            sessions,
            ",".join(endpoint.pin_name for endpoint in registries),
            notifier=self.notifier,
            notifications=notifications,
        )
        self.data = DataPart(self.presenter, runner, FolderRestorer(settings))
        """Backup, restore and export (the menu; restore on the sign-in card)."""
        self.view = TkChatView(root, self.presenter, files=self.presenter.files, data=self.data)
        self.presenter.attach(self.view)
        self.pump = QueuePump(root, self.items, self.presenter)

    def start(self) -> None:
        self.pump.start()
        self.presenter.start(self.settings.user)

    def close_on_signals(self) -> Callable[[], None]:
        """Ctrl-C (SIGINT) or SIGTERM closes the window as its close button does: signs out
        and leaves. Returns what puts the previous handlers back.

        Tk's main loop is C: a signal only sets a flag (Python runs the handler between two
        Tk callbacks), and a tick on the Tk thread acts on it. (Without this, Ctrl-C raised
        KeyboardInterrupt inside some Tk callback, which Tk printed and went on.)"""
        asked: list[int] = []

        def handler(signum: int, _frame: FrameType | None) -> None:
            asked.append(signum)

        previous: dict[int, Any] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)

        def tick() -> None:
            if asked:
                log.info("%s: closing", signal.Signals(asked[0]).name)
                self.presenter.close_requested()
            elif not self.presenter.closed:
                self.root.after(SIGNAL_TICK_MS, tick)

        self.root.after(SIGNAL_TICK_MS, tick)

        def restore() -> None:
            for signum, old in previous.items():
                signal.signal(signum, old)

        return restore

    def shutdown(self) -> None:
        """After the window is gone: stop the local registry, if any, and the network."""
        self.pump.stopped = True
        if self.registry is not None:
            self.network.submit(self.registry.close()).result(10)
        self.network.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = resolve(args)
        notifications = notifications_allowed(args)
        root = open_window()
    except StartupError as exc:
        print(exc if str(exc).startswith("chinwag:") else f"chinwag: {exc}", file=sys.stderr)
        return exc.exit_code
    import tkinter  # there is one: open_window made a window with it

    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        app = DesktopApp(root, settings, notifications=notifications)
    except Exception as exc:
        log.exception("could not start")
        root.destroy()
        print(f"chinwag: could not start: {exc}", file=sys.stderr)
        return 2
    restore_signals = app.close_on_signals()
    app.start()
    try:
        root.mainloop()
    except KeyboardInterrupt:  # before the handlers were in place: leave as Ctrl-C asks
        app.presenter.close_requested()
        with contextlib.suppress(KeyboardInterrupt, tkinter.TclError):
            root.mainloop()
    finally:
        app.shutdown()
        restore_signals()
    return 0


if __name__ == "__main__":
    sys.exit(main())
