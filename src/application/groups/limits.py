"""The bounds of groups that the application enforces (the domain's are in ``domain.group``).

Every one of them keeps a peer (or a member gone wrong) from making this client hold, compute
or send without end; what a bound turns away is logged and comes again with the next sync.
"""

from __future__ import annotations

from typing import Final

MAX_GROUPS_PER_USER: Final = 500
"""Groups one user is a member of at once. Enforced when the user creates a group and when
somebody adds them to one (the group is not taken, and the user is told)."""

MAX_CHANGES_PER_GROUP: Final = 20_000
"""Changes of one group's log stored (each was on the chain when it came): far beyond any real
group's history (a change is an admin's deliberate act), and a bound on what loading a log
costs."""

MAX_PENDING_GROUPS: Final = 64
"""Groups not known yet whose changes are held in memory, waiting for the rest of the log
(a log can arrive over several frames before this user is a member in it)."""

MAX_PENDING_CHANGES: Final = 4_096
"""Changes held for one group not known yet (see :data:`MAX_PENDING_GROUPS`)."""

MAX_PENDING_BYTES: Final = 8 * 1024 * 1024
"""What the changes held for groups not known yet may cost in all, roughly in bytes (see
``pending.weight``); past it, the groups fed least recently are dropped first."""

MAX_CREATE_TRIES: Final = 4
"""Creates of one group not known yet checked per batch of changes: only one can be valid (the
one its id derives from, signed by its creator), so a batch of copies with other signatures
costs a few checks, not one per copy."""

MAX_SETTLED: Final = 20_000
"""Hashes of changes judged and dropped (never on their group's chain) remembered, so that
changes following them are not taken for changes following one not known (and asked for)."""

MAX_DECLINED: Final = 1_000
"""Groups remembered as declined this run (this user was at :data:`MAX_GROUPS_PER_USER`)."""

SYNC_INTERVAL: Final = 10.0
"""Seconds between two sync requests this client starts with one peer for one group (after a
presence change, a deferral, a sign-in). Answers to the peer's own requests are not limited by
this but coalesced: one at a time per peer and group."""

FORWARD_BATCH: Final = 256
"""Messages per ``messages`` frame when handing history to a member (as the courier's batch)."""

FORWARD_BUDGET: Final = 4_096
"""Messages handed to one peer in answer to one ``group_have``; past it, our own have asks the
peer to say again how far it is, and the next answer goes on from there."""

MAX_SYNC_TASKS: Final = 1_024
"""Sync sends under way or waiting at once; a trigger past it is dropped (logged): the next
trigger does the work."""

SYNC_CONCURRENCY: Final = 8
"""Sync sends running at once (the others wait their turn)."""

MAX_RATE_ENTRIES: Final = 10_000
"""(peer, group) pairs whose last sync request is remembered for :data:`SYNC_INTERVAL`."""
