"""What the registry counts, for its metrics: plain integers and counters that the use cases
and the server bump as they go, read by the metrics collector at scrape time (no lock: one
event loop writes, and a scrape that reads a counter mid-pass is off by one at most).

Labelled counters are :class:`collections.Counter` by the label's value (a result word, a
:class:`~chinwag.domain.registry.refusals.RefusalCode`, a transport...).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class RegistryStats:
    """Counters (``_total`` in the metrics) and gauges (set, not bumped) of one registry."""

    # -- connections (bumped by the server) ----------------------------------------------------
    connections_accepted: Counter[str] = field(default_factory=Counter)
    """By transport: ``tcp``, ``ws``."""
    connections_refused: Counter[str] = field(default_factory=Counter)
    """By reason (the ``RefusalLog`` words)."""
    protocol_violations: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """``error`` frames sent, by code."""

    # -- registrations and lookups (the use cases) ---------------------------------------------
    registrations: Counter[str] = field(default_factory=Counter)
    """By result: ``ok``, or the refusal's code."""
    registered_clients: int = 0
    """Gauge: names registered here (``LocalClients``)."""
    legacy_clients: int = 0
    """Gauge: of those, registered with a version that knows no watch lists."""
    lookups: Counter[str] = field(default_factory=Counter)
    """By result: ``found``, or the refusal's code (``offline``, ``unknown_user``...)."""
    who_queries: int = 0

    # -- presence ------------------------------------------------------------------------------
    watched_names: int = 0
    """Gauge: watches (session, name) held here."""
    presence_changes: Counter[str] = field(default_factory=Counter)
    """By source: ``local`` (a session here), ``bus`` (another registry)."""
    presence_pushes: int = 0
    """``presence_changed`` frames sent."""
    presence_coalesced: int = 0
    """Changes never pushed on their own: they went back before their push, or joined one."""
    presence_mode: str = "everyone"
    """Gauge: the :class:`~chinwag.domain.registry.presence.PresenceMode` now."""

    # -- relay and probes ----------------------------------------------------------------------
    relay_sessions: int = 0
    """Gauge: relay sessions open."""
    relay_bytes: int = 0
    relay_refused: Counter[str] = field(default_factory=Counter)
    """By the refusal's code."""
    probes: Counter[str] = field(default_factory=Counter)
    """By result (a ``Reachability`` word)."""

    # -- the shared store (Redis) --------------------------------------------------------------
    redis_up: int = 1
    """Gauge: 1 while the store answers (always 1 without Redis)."""
    redis_reconnects: int = 0
    bus_messages: Counter[str] = field(default_factory=Counter)
    """By direction: ``in``, ``out``."""
