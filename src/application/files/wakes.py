"""Waits that end early when a peer comes online (presence), or when the user says "now"."""

from __future__ import annotations

import asyncio


class PeerWakes:
    """Waits on peers; waking a peer ends every wait on it begun before."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    async def wait(self, peer: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds, or until :meth:`wake` names ``peer``; whether it
        was woken. Only peers waited on are kept (a presence list of thousands costs nothing)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(peer, set())
        waiters.add(future)
        try:
            await asyncio.wait({future}, timeout=timeout)
            return future.done() and not future.cancelled()
        finally:
            waiters.discard(future)
            if not waiters and self._waiters.get(peer) is waiters:
                del self._waiters[peer]
            future.cancel()

    def wake(self, peer: str) -> None:
        for future in self._waiters.pop(peer, set()):
            if not future.done():
                future.set_result(None)
