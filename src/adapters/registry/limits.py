"""The registry's own limits against the system's: enough file descriptors for the connections
it takes, and one clear, bounded log of whom it turned away.

Measured before this: under the common ``ulimit -n 1024`` two busy addresses could hold every
descriptor, and everyone else was refused silently (``accept`` failing with EMFILE, which asyncio
logs as a traceback and answers by pausing every accept for a second).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("chinwag.adapters.registry.server")

SPARE_DESCRIPTORS = 128
"""Descriptors kept for what is not a client connection: the listening sockets, outgoing
probes, the name book's files, logs."""


def fit_descriptors(connections: int, spare: int = SPARE_DESCRIPTORS) -> int:
    """Raise this process's soft descriptor limit toward ``connections + spare`` (up to the
    hard limit); return how many client connections the limit then allows (``connections``
    or fewer, and says so in the log when fewer)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE; the system decides
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + spare
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("could not raise the descriptor limit from %d to %d: %s", soft, wanted, exc)
    if soft == resource.RLIM_INFINITY or soft - spare >= connections:
        return connections
    allowed = max(1, soft - spare)
    log.warning(
        "the descriptor limit (%d; hard limit %s) allows %d client connections, not %d: "
        "raise it (ulimit -n, or LimitNOFILE= for a service) to take more",
        soft,
        "unlimited" if hard == resource.RLIM_INFINITY else hard,
        allowed,
        connections,
    )
    return allowed


class RefusalLog:
    """Connections turned away for the caps, in the log at once for the first, then at most one
    line per ``every`` seconds saying how many more, why, and from where most came (a flood
    must not flood the log too). ``later(delay, callback)`` runs the summary (the event loop's
    ``call_later``)."""

    def __init__(self, later: Callable[[float, Callable[[], None]], object], every: float = 10.0):
        self._later = later
        self._every = every
        self._open = False
        self._reasons: Counter[str] = Counter()
        self._hosts: Counter[str] = Counter()

    def refused(self, host: str, reason: str) -> None:
        if not self._open:
            self._open = True
            log.warning("refused a connection from %s: %s", host, reason)
            self._later(self._every, self._summary)
            return
        self._reasons[reason] += 1
        self._hosts[host] += 1

    def _summary(self) -> None:
        if not self._reasons:
            self._open = False
            return
        reasons = ", ".join(f"{count} {reason}" for reason, count in self._reasons.most_common())
        host, count = self._hosts.most_common(1)[0]
        log.warning(
            "refused %d more connection(s) in %.0f s (%s); most from %s (%d)",
            sum(self._reasons.values()),
            self._every,
            reasons,
            host,
            count,
        )
        self._reasons.clear()
        self._hosts.clear()
        self._later(self._every, self._summary)
