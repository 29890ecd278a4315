"""Where the registry keeps names and presence, and how it hears the rest of its network: the
adapters of the ports in :mod:`chinwag.application.registry.ports`. One registry on its own
uses the memory stores, the SQLite name store and the local bus; registries sharing a network
use the Redis ones."""
