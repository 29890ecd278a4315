"""``chinwag``: the desktop app. Tk on the main thread, the network on a thread of its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import queue
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING
from uuid import UUID

from dependency_injector import providers

from chinwag.adapters.gui.bridge import Item, NetworkThread, QueueEvents, QueuePump, QueueRunner
from chinwag.adapters.gui.presenter import ChatPresenter
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.errors import AddressInUse
from chinwag.application.trust import SafetyNumber
from chinwag.application.use_cases.who_am_i import Me
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import (
    LOG_FORMAT,
    StartupError,
    new_event_loop,
)
from chinwag.entrypoints.container import Container, close_storage
from chinwag.entrypoints.registry import open_registry_state
from chinwag.entrypoints.settings import (
    ClientSettings,
    add_client_arguments,
    container_config,
    load_identity,
    lock_user_folder,
    registry_endpoint,
    resolve,
)

if TYPE_CHECKING:
    import tkinter

log = logging.getLogger(__name__)

NO_DISPLAY = (
    "chinwag: no display available ({reason}); in a terminal, use chinwag-cli instead "
    "(make cli, or .venv/bin/chinwag-cli --user NAME)"
)


class ContainerSession:
    """The presenter's ``ChatSession`` over one container: one user at one registry."""

    def __init__(
        self, settings: ClientSettings, user: str, registry: str, events: QueueEvents
    ) -> None:
        endpoint = registry_endpoint(registry)
        # --registry-key names the registry the app was started with, not one typed later.
        pinned = settings.registry_key if endpoint == settings.registry else None
        self._settings = dataclasses.replace(settings, registry=endpoint, registry_key=pinned)
        self._user = user
        self._events = events
        self._container: Container | None = None
        self._lock: IO[bytes] | None = None

    @property
    def _use(self) -> Container:
        assert self._container is not None, "sign in first"
        return self._container

    async def sign_in(self) -> str:
        try:
            self._lock = lock_user_folder(self._settings.user_dir(self._user), self._user)
            keys = load_identity(self._settings, self._user)
            container = self._container = Container(events=self._events)
            container.config.from_dict(container_config(self._settings, self._user))
            container.adapters.keys.override(providers.Object(keys))
            await asyncio.to_thread(container.adapters.database)
            host, port = self._settings.listen
            await container.use_cases.sign_in().execute(
                self._user, PeerAddress(host=host, port=port)
            )
            name: str = container.use_cases.session().require_user()
        except BaseException:
            await self._release()
            raise
        return name

    async def send(self, to: str, body: str) -> Message:
        message: Message = await self._use.use_cases.send_message().execute(to, body)
        return message

    async def history(self, peer: str, limit: int, before: UUID | None) -> list[Message]:
        page: list[Message] = await self._use.use_cases.load_history().execute(peer, limit, before)
        return page

    async def search(self, text: str) -> list[Message]:
        found: list[Message] = await self._use.use_cases.search_history().execute(text)
        return found

    async def conversations(self) -> list[str]:
        peers: list[str] = await self._use.use_cases.list_conversations().execute()
        return peers

    async def own_fingerprint(self) -> str:
        me: Me = self._use.use_cases.who_am_i().execute()
        return me.fingerprint

    async def safety_number(self, peer: str) -> SafetyNumber:
        safety: SafetyNumber = await self._use.use_cases.verify_contact().execute(peer)
        return safety

    async def verify(self, peer: str, number: str) -> SafetyNumber:
        safety: SafetyNumber = await self._use.use_cases.verify_contact().execute(peer, number)
        return safety

    async def trust(self, peer: str, fingerprint: str) -> None:
        await self._use.use_cases.trust_contact().execute(peer, fingerprint)

    async def sign_out(self) -> None:
        try:
            if self._container is not None:
                await self._container.use_cases.sign_out().execute()
        finally:
            await self._release()

    async def _release(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            await asyncio.to_thread(close_storage, container)
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chinwag",
        description="The chinwag desktop app. Without --user it asks who you are.",
    )
    add_client_arguments(parser)
    return parser


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


class DesktopApp:
    """The window, the presenter and the network thread of one run of the app, wired."""

    def __init__(self, root: tkinter.Tk, settings: ClientSettings) -> None:
        from chinwag.adapters.gui.tk_view import TkChatView

        self.root = root
        self.settings = settings
        self.network = NetworkThread(new_event_loop)
        self.network.start()
        self.registry = start_local_registry(self.network, *settings.registry, settings.data_dir)
        self.items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        events = QueueEvents(self.items)
        self.presenter = ChatPresenter(
            QueueRunner(self.network, self.items),
            lambda user, address: ContainerSession(settings, user, address, events),
            f"{settings.registry[0]}:{settings.registry[1]}",
        )
        self.view = TkChatView(root, self.presenter)
        self.presenter.attach(self.view)
        self.pump = QueuePump(root, self.items, self.presenter)

    def start(self) -> None:
        self.pump.start()
        self.presenter.start(self.settings.user)

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
        root = open_window()
    except StartupError as exc:
        print(exc if str(exc).startswith("chinwag:") else f"chinwag: {exc}", file=sys.stderr)
        return exc.exit_code
    import tkinter  # there is one: open_window made a window with it

    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        app = DesktopApp(root, settings)
    except Exception as exc:
        log.exception("could not start")
        root.destroy()
        print(f"chinwag: could not start: {exc}", file=sys.stderr)
        return 2
    app.start()
    try:
        root.mainloop()
    except KeyboardInterrupt:  # Ctrl-C in the terminal: leave as the window's close button does
        app.presenter.close_requested()
        with contextlib.suppress(KeyboardInterrupt, tkinter.TclError):
            root.mainloop()
    finally:
        app.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
