"""The composition root: one dependency-injector container wiring ports to adapters.

``Core`` holds configuration and logging, ``RealAdapters`` the TCP, SQLite and system adapters,
``UseCases`` the application. Tests and embedders swap every adapter for its in-memory twin with
one override::

    container.adapters.override(memory_adapters(registry, network))
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from chinwag.adapters.local_files import LocalFiles
from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.pins import RegistryPins
from chinwag.adapters.registry.relay_client import RegistryRelay
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys, load_or_create_keys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.adapters.sqlite.contacts import SqliteContactRepository
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.groups import SqliteGroupRepository
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.adapters.sqlite.transfers import SqliteTransferRepository
from chinwag.adapters.system import RandomIds, SystemClock
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.files.engine import Transfers
from chinwag.application.files.service import FileService
from chinwag.application.groups import (
    GroupBook,
    GroupIntake,
    GroupProgress,
    GroupSync,
    MemberKeys,
)
from chinwag.application.groups.locks import GroupLocks
from chinwag.application.groups.withdraw import Withdrawals
from chinwag.application.presence import LastSeen, PresenceRelay
from chinwag.application.quota import InboundQuota
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import (
    AcceptFile,
    CancelFile,
    CountUnread,
    DeclineFile,
    FindOnline,
    Groups,
    ListContacts,
    ListConversations,
    ListTransfers,
    LoadHistory,
    MarkRead,
    PostToGroup,
    ReceiveMessages,
    SearchHistory,
    SendFile,
    SendMessage,
    SendMessages,
    SignIn,
    SignOut,
    StartChat,
    TrustContact,
    VerifyContact,
    WatchPeople,
    WhoAmI,
    WhoIsOnline,
)
from chinwag.application.use_cases.diagnose import DiagnosePeer, DiagnoseSelf
from chinwag.application.use_cases.message_deliveries import MessageDeliveries
from chinwag.application.watch_list import WatchList, follow
from chinwag.domain.transfer import FileLimits
from chinwag.entrypoints.common import configure_logging
from chinwag.entrypoints.registry_config import configured_registries


def open_database(path: Path, synchronous: str) -> Iterator[Database]:
    database = Database(path, synchronous=synchronous)
    try:
        yield database
    finally:
        database.close()


class Core(containers.DeclarativeContainer):
    config = providers.Configuration()
    logging = providers.Resource(configure_logging, level=config.log_level)


def watched(book: GroupBook, withdrawals: Withdrawals) -> GroupBook:
    """The group book, with what must follow every change of a group's chain."""
    book.on_chain_change(withdrawals.changed)
    return book


def local_files(downloads: str | None) -> Iterator[LocalFiles]:
    files = LocalFiles(downloads)
    try:
        yield files
    finally:
        files.close()


def file_limits(config: Any) -> FileLimits:
    """The user's rules for incoming files (``use_cases.files`` of the configuration: what
    ``--max-file-size`` and ``--auto-accept-size`` say); the defaults where it says nothing
    (read from the whole configuration, which a strict one gives without complaint)."""
    files = ((config or {}).get("use_cases") or {}).get("files") or {}
    return FileLimits(**files)


def own_key(keys: LocalKeys) -> bytes:
    return keys.identity_key


class RealAdapters(containers.DeclarativeContainer):
    """Registry client (TCP or WebSocket) and TCP transport over Noise, SQLite history and
    contacts, this user's keys from their folder, the system clock and random ids."""

    config = providers.Configuration()
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    keys = providers.Singleton(load_or_create_keys, config.keys_path)
    identity_key = providers.Singleton(own_key, keys)
    signatures = providers.Singleton(IdentitySignatures, keys)
    security = providers.Singleton(Security, keys)
    database = providers.Resource(
        open_database, path=config.database_path, synchronous=config.synchronous
    )
    messages = providers.Singleton(SqliteMessageRepository, database)
    conversations = providers.Singleton(SqliteConversationRepository, database)
    contacts = providers.Singleton(SqliteContactRepository, database)
    groups = providers.Singleton(SqliteGroupRepository, database)
    transfers = providers.Singleton(SqliteTransferRepository, database)
    files = providers.Resource(local_files, config.downloads)
    pins = providers.Singleton(RegistryPins, config.pins_path)
    directory = providers.Singleton(
        RegistryDirectory,
        providers.Callable(configured_registries, config),
        security=security,
        pins=pins,
        registry_key=config.registry_key,
    )
    relay = providers.Singleton(RegistryRelay, directory)
    transport = providers.Singleton(TcpPeerTransport, security, relay=relay)


class UseCases(containers.DeclarativeContainer):
    adapters = providers.DependenciesContainer()
    events: providers.Dependency[Any] = providers.Dependency()

    session = providers.Singleton(Session)
    quota = providers.Singleton(InboundQuota)
    ledger = providers.Singleton(ConversationLedger, adapters.conversations)
    trust = providers.Singleton(
        TrustPolicy,
        adapters.contacts,
        adapters.directory,
        events,
        adapters.clock,
        adapters.identity_key,
    )
    courier = providers.Singleton(
        Courier, adapters.directory, adapters.transport, adapters.messages, events, trust
    )
    group_progress = providers.Singleton(GroupProgress, adapters.messages)
    group_locks = providers.Singleton(GroupLocks)
    withdrawals = providers.Singleton(
        Withdrawals, session, adapters.messages, events, group_progress, group_locks
    )
    group_book = providers.Singleton(
        watched,
        providers.Singleton(
            GroupBook,
            session,
            adapters.groups,
            adapters.signatures,
            events,
            adapters.clock,
            adapters.identity_key,
        ),
        withdrawals,
    )
    watch_list = providers.Singleton(
        follow,
        providers.Singleton(
            WatchList,
            session,
            adapters.directory,
            adapters.contacts,
            adapters.conversations,
            group_book,
        ),
        ledger,
        trust,
        group_book,
    )
    """Contacts, conversations and group members watched at the registry, as they appear."""
    member_keys = providers.Singleton(MemberKeys, adapters.directory, trust)
    group_sync = providers.Singleton(
        GroupSync,
        session,
        group_book,
        group_progress,
        adapters.messages,
        adapters.transport,
        adapters.directory,
        trust,
        courier,
        adapters.clock,
        deferred=courier,
    )
    limits: providers.Provider[FileLimits] = providers.Dependency(
        instance_of=FileLimits, default=FileLimits()
    )
    transfers = providers.Singleton(
        Transfers,
        session,
        adapters.directory,
        adapters.transport,
        adapters.transfers,
        adapters.files,
        adapters.contacts,
        trust,
        events,
        adapters.clock,
        limits,
    )
    file_service = providers.Singleton(FileService, transfers, adapters.files, group_book)
    group_intake = providers.Singleton(
        GroupIntake,
        group_book,
        group_progress,
        adapters.messages,
        ledger,
        events,
        adapters.signatures,
        group_sync,
        quota,
        trust,
        group_locks,
        files=transfers,
    )
    receive_messages = providers.Singleton(
        ReceiveMessages,
        session,
        adapters.messages,
        ledger,
        events,
        trust,
        courier,
        adapters.clock,
        quota,
        group_intake,
        files=file_service,
    )
    last_seen = providers.Singleton(LastSeen, adapters.clock)
    presence = providers.Singleton(
        PresenceRelay, events, courier, last_seen, group_sync, files=transfers
    )
    sign_in = providers.Factory(
        SignIn,
        session,
        adapters.directory,
        adapters.transport,
        receive_messages,
        presence,
        adapters.messages,
        courier,
        trust,
        files=transfers,
        watch_list=watch_list,
    )
    sign_out = providers.Factory(
        SignOut, session, adapters.directory, adapters.transport, courier, files=transfers
    )
    who_is_online = providers.Factory(WhoIsOnline, session, adapters.directory)
    find_online = providers.Factory(FindOnline, session, adapters.directory)
    watch_people = providers.Factory(WatchPeople, adapters.directory)
    send_message = providers.Factory(
        SendMessage,
        session,
        adapters.directory,
        adapters.messages,
        ledger,
        courier,
        events,
        adapters.clock,
        adapters.ids,
    )
    send_messages = providers.Factory(
        SendMessages,
        session,
        adapters.directory,
        adapters.messages,
        ledger,
        courier,
        events,
        adapters.clock,
        adapters.ids,
    )
    load_history = providers.Factory(LoadHistory, session, adapters.messages, group_book)
    message_deliveries = providers.Factory(MessageDeliveries, session, adapters.messages)
    groups = providers.Factory(Groups, session, group_book, member_keys, group_progress)
    post_to_group = providers.Singleton(  # one object: concurrent posts share a commit
        PostToGroup,
        session,
        group_book,
        group_progress,
        adapters.messages,
        ledger,
        courier,
        events,
        adapters.signatures,
        adapters.clock,
        adapters.ids,
    )
    list_conversations = providers.Factory(ListConversations, session, adapters.conversations)
    search_history = providers.Factory(SearchHistory, session, adapters.messages)
    verify_contact = providers.Factory(VerifyContact, session, trust)
    trust_contact = providers.Factory(TrustContact, session, trust)
    who_am_i = providers.Factory(WhoAmI, session, trust)
    list_contacts = providers.Factory(
        ListContacts, session, adapters.conversations, adapters.contacts, group_book
    )
    start_chat = providers.Factory(StartChat, session, adapters.directory, ledger, trust)
    mark_read = providers.Factory(MarkRead, session, adapters.conversations, group_book)
    count_unread = providers.Factory(CountUnread, session, adapters.conversations, group_book)
    send_file = providers.Factory(
        SendFile,
        session,
        adapters.files,
        transfers,
        send_message,
        post_to_group,
        adapters.clock,
        adapters.ids,
    )
    accept_file = providers.Factory(AcceptFile, session, transfers)
    decline_file = providers.Factory(DeclineFile, session, transfers)
    cancel_file = providers.Factory(CancelFile, session, transfers)
    list_transfers = providers.Factory(ListTransfers, session, transfers)
    diagnose_self = providers.Factory(DiagnoseSelf, session, adapters.directory)
    diagnose_peer = providers.Factory(
        DiagnosePeer, session, adapters.directory, adapters.transport, trust, last_seen, courier
    )


class Container(containers.DeclarativeContainer):
    """Everything one chinwag client needs. ``events`` (the output port) is given by the caller:
    the CLI's printer, the GUI's presenter, or a test's recorder."""

    config = providers.Configuration(strict=True)
    events: providers.Dependency[Any] = providers.Dependency()
    core = providers.Container(Core, config=config.core)
    adapters = providers.Container(RealAdapters, config=config.adapters)
    use_cases = providers.Container(
        UseCases,
        adapters=adapters,
        events=events,
        limits=providers.Singleton(file_limits, config),
    )


def open_storage(container: Container) -> None:
    """Open what the adapters keep on disk: the identity keys (created, and synced, on first
    use) and the history database. It blocks on the disk, so call it in a thread
    (``await asyncio.to_thread(open_storage, container)``), never on the event loop: a few
    ``fsync`` calls there stall every connection the loop serves."""
    container.adapters.keys()
    container.adapters.database()


def close_storage(container: Container) -> None:
    """Close what the adapters opened (the history database); safe to call twice."""
    container.adapters().shutdown_resources()
