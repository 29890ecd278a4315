"""The desktop app's ``ChatSession``: the presenter's requests, run as use cases of one
container (one user at one registry). Every request goes through a use case (which checks
the session and, for a group, that the user is or was in it): nothing here reaches a
repository. The user's data is the exception: a backup and an export read the user's folder
as ``chinwag-cli backup|export`` do beside a running client (the same code), and a restore,
before anybody signs in, writes it as ``chinwag-cli restore`` does."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from uuid import UUID

from dependency_injector import providers

from chinwag.adapters.backup.service import BackedUp, RestoredUser, back_up_user, restore_user
from chinwag.adapters.export.to_file import export_to_file
from chinwag.adapters.gui.bridge import QueueEvents
from chinwag.adapters.gui.preferences import JsonPreferences, Preferences
from chinwag.adapters.gui.view import Chat
from chinwag.adapters.sqlite.export_rows import SqliteHistorySource
from chinwag.application.files.status import TransferStatus
from chinwag.application.history_export import ExportScope
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.message_repository import Delivery
from chinwag.application.trust import SafetyNumber
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.application.use_cases.start_chat import StartedChat
from chinwag.application.use_cases.who_am_i import Me
from chinwag.domain.group import Change
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer
from chinwag.entrypoints.cli_backup import USER_FILES
from chinwag.entrypoints.container import Container, close_storage
from chinwag.entrypoints.settings import (
    HISTORY_FILE,
    ClientSettings,
    container_config,
    load_identity,
    lock_user_folder,
    registry_endpoint,
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
        self._history_end = 0

    @property
    def _use(self) -> Container:
        assert self._container is not None, "sign in first"
        return self._container

    async def sign_in(self) -> str:
        try:
            self._lock = lock_user_folder(self._settings.user_dir(self._user), self._user)
            keys = await asyncio.to_thread(load_identity, self._settings, self._user)
            container = self._container = Container(events=self._events)
            container.config.from_dict(container_config(self._settings, self._user))
            container.adapters.keys.override(providers.Object(keys))
            await asyncio.to_thread(container.adapters.database)
            # Before anybody can send anything: what arrives from now on comes as events.
            self._history_end = await container.use_cases.count_unread().history_end()
            await container.use_cases.sign_in().execute(self._user, self._settings.listen_address())
            name: str = container.use_cases.session().require_user()
        except BaseException:
            await self._release()
            raise
        return name

    async def send(self, to: str, body: str) -> Message:
        message: Message = await self._use.use_cases.send_message().execute(to, body)
        return message

    async def diagnose_self(self) -> SelfReport:
        report: SelfReport = await self._use.use_cases.diagnose_self().execute()
        return report

    async def diagnose(self, peer: str) -> PeerReport:
        report: PeerReport = await self._use.use_cases.diagnose_peer().execute(peer)
        return report

    async def history(self, peer: str, limit: int, before: UUID | None) -> list[Message]:
        page: list[Message] = await self._use.use_cases.load_history().execute(peer, limit, before)
        return page

    async def search(self, text: str) -> list[Message]:
        found: list[Message] = await self._use.use_cases.search_history().execute(text)
        return found

    async def conversations(self) -> Sequence[Chat]:
        """The contacts and the groups, by their conversations' latest message."""
        chats: list[Chat] = await self._use.use_cases.list_contacts().chats()
        return chats

    async def unread(self) -> dict[str, Unread]:
        """What was unread when signing in: messages that arrived since came as events."""
        count = self._use.use_cases.count_unread()
        unread: dict[str, Unread] = await count.execute(self._history_end)
        return unread

    async def mark_read(self, peer: str, upto: UUID) -> None:
        await self._use.use_cases.mark_read().execute(peer, upto)

    async def start_chat(self, name: str) -> StartedChat:
        started: StartedChat = await self._use.use_cases.start_chat().execute(name)
        return started

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        found: list[str] = await self._use.use_cases.find_online().execute(prefix, limit)
        return found

    async def load_preferences(self) -> Preferences:
        return await asyncio.to_thread(self._preferences.load)

    async def save_preferences(self, preferences: Preferences) -> None:
        await asyncio.to_thread(self._preferences.save, preferences)

    @property
    def _preferences(self) -> JsonPreferences:
        return JsonPreferences(self._settings.user_dir(self._user))

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

    # -- groups ---------------------------------------------------------------------------------

    async def groups(self) -> list[tuple[GroupState, bool]]:
        mine: list[tuple[GroupState, bool]] = await self._use.use_cases.groups().list()
        return mine

    async def group_log(self, group: UUID) -> list[Change]:
        changes: list[Change] = await self._use.use_cases.groups().log(group)
        return changes

    async def group_history(self, group: UUID, limit: int, before: UUID | None) -> list[Message]:
        page: list[Message] = await self._use.use_cases.load_history().group(group, limit, before)
        return page

    async def deliveries(self, messages: Sequence[UUID]) -> dict[UUID, list[Delivery]]:
        """The deliveries of the user's messages on a page (one use case call per page)."""
        query = self._use.use_cases.message_deliveries()
        found: dict[UUID, list[Delivery]] = await query.execute(messages)
        return found

    async def group_unread(self) -> dict[UUID, Unread]:
        """As :meth:`unread`, for the groups."""
        count = self._use.use_cases.count_unread()
        unread: dict[UUID, Unread] = await count.groups(self._history_end)
        return unread

    async def mark_group_read(self, group: UUID, upto: UUID) -> None:
        await self._use.use_cases.mark_read().group(group, upto)

    async def post(self, group: UUID, body: str) -> Message:
        message: Message = await self._use.use_cases.post_to_group().execute(group, body)
        return message

    async def create_group(self, name: str, members: Sequence[str]) -> GroupState:
        state: GroupState = await self._use.use_cases.groups().create(name, members)
        return state

    async def add_member(self, group: UUID, member: str) -> GroupState:
        state: GroupState = await self._use.use_cases.groups().add(group, member)
        return state

    async def remove_member(self, group: UUID, member: str) -> GroupState:
        state: GroupState = await self._use.use_cases.groups().remove(group, member)
        return state

    async def make_admin(self, group: UUID, member: str) -> GroupState:
        state: GroupState = await self._use.use_cases.groups().make_admin(group, member)
        return state

    async def rename_group(self, group: UUID, name: str) -> GroupState:
        state: GroupState = await self._use.use_cases.groups().rename(group, name)
        return state

    async def leave_group(self, group: UUID) -> None:
        await self._use.use_cases.groups().leave(group)

    # -- files (the presenter's FileSession) ------------------------------------------------------

    async def send_file(
        self, path: str, *, to: str | None = None, group: UUID | None = None
    ) -> Transfer:
        transfer: Transfer = await self._use.use_cases.send_file().execute(path, to=to, group=group)
        return transfer

    async def accept_file(self, transfer_id: UUID, directory: str | None = None) -> Transfer:
        transfer: Transfer = await self._use.use_cases.accept_file().execute(transfer_id, directory)
        return transfer

    async def decline_file(self, transfer_id: UUID) -> Transfer:
        transfer: Transfer = await self._use.use_cases.decline_file().execute(transfer_id)
        return transfer

    async def cancel_file(self, transfer_id: UUID) -> Transfer:
        transfer: Transfer = await self._use.use_cases.cancel_file().execute(transfer_id)
        return transfer

    async def transfers(self) -> list[TransferStatus]:
        statuses: list[TransferStatus] = await self._use.use_cases.list_transfers().execute()
        return statuses

    # -- the user's data (the presenter's DataSession) ---------------------------------------------

    @property
    def user(self) -> str:
        return self._user

    async def back_up(self, path: str, passphrase: str) -> BackedUp:
        """The backup ``chinwag-cli backup`` writes, made while this client runs."""
        folder = self._settings.user_dir(self._user)
        return await asyncio.to_thread(
            back_up_user, folder, self._user, Path(path), passphrase, USER_FILES
        )

    async def export_chat(self, chat: Chat, path: str) -> int:
        """One conversation, as ``chinwag-cli export --with|--group`` writes it: read through a
        read-only connection of its own, beside this client's."""
        scope = ExportScope(group=str(chat)) if isinstance(chat, UUID) else ExportScope(peer=chat)
        folder = self._settings.user_dir(self._user)
        history = folder / HISTORY_FILE

        def export() -> int:
            with SqliteHistorySource(history, self._user) as source:
                return export_to_file(
                    source,
                    self._user,
                    scope,
                    Path(path).expanduser(),
                    folder=folder,
                    files=USER_FILES,
                )

        return await asyncio.to_thread(export)

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


class FolderRestorer:
    """Restores a backup into the app's data folder, as ``chinwag-cli restore`` does (the
    presenter's ``Restorer``): before signing in, since it may replace a user's folder."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings

    @property
    def where(self) -> str:
        return str(self._settings.data_dir)

    async def restore(self, path: str, passphrase: str, replace: bool) -> RestoredUser:
        settings = self._settings
        return await asyncio.to_thread(
            restore_user,
            Path(path),
            passphrase,
            settings.data_dir,
            USER_FILES,
            settings.user_dir,
            lock_user_folder,
            replace=replace,
        )
