"""The in-memory twins of the client's adapters, for tests and for trying the use cases
without sockets or files: several clients meet on one shared registry and network."""

from __future__ import annotations

from dependency_injector import containers, providers

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.files import InMemoryFileStore
from chinwag.adapters.memory.groups import InMemoryGroupRepository
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.adapters.memory.transfers import InMemoryTransferRepository
from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.adapters.system import RandomIds


def own_key(keys: LocalKeys) -> bytes:
    return keys.identity_key


class MemoryAdapters(containers.DeclarativeContainer):
    """The in-memory twins, under the same names. The shared registry and network are given in
    ``config`` (see :func:`memory_adapters`) so that several clients can meet."""

    config = providers.Configuration()
    clock = providers.Singleton(ManualClock)
    ids = providers.Singleton(RandomIds)
    keys = providers.Singleton(LocalKeys.generate)
    identity_key = providers.Singleton(own_key, keys)
    signatures = providers.Singleton(IdentitySignatures, keys)
    database: providers.Provider[None] = providers.Object(None)
    transfers = providers.Singleton(InMemoryTransferRepository)
    messages = providers.Singleton(InMemoryMessageRepository, transfers)
    files = providers.Singleton(InMemoryFileStore)
    conversations = providers.Singleton(InMemoryConversationRepository, messages)
    contacts = providers.Singleton(InMemoryContactRepository)
    groups = providers.Singleton(InMemoryGroupRepository)
    directory = providers.Singleton(InMemoryDirectory, config.registry, identity_key)
    transport = providers.Singleton(InMemoryTransport, config.network, identity_key)


def memory_adapters(registry: InMemoryRegistry, network: InMemoryNetwork) -> MemoryAdapters:
    """A set of in-memory adapters for one client that meets others on ``registry``/``network``."""
    adapters = MemoryAdapters()
    adapters.config.from_dict({"registry": registry, "network": network})
    return adapters
