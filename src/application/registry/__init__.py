"""The registry's use cases (register, look up, watch, who, relay offers, presence fan-out) over
its ports (:mod:`chinwag.application.registry.ports`): one shape whether the registry runs alone
(SQLite names, presence in memory) or with others on one Redis."""
