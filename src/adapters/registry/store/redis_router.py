"""The relay router over Redis: an offer or a kick for a client held by this registry goes to
its session here (the local router), one for another registry is published on that registry's
notes channel, with this registry's URLs as ``via`` (:mod:`.redis_messages`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chinwag.adapters.registry.store.local_bus import LocalRelayRouter
from chinwag.adapters.registry.store.redis_messages import encode_note, notes_channel
from chinwag.application.registry.ports.presence_bus import KickNote, OfferNote
from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.application.registry.sessions import LocalClients
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.presence import OnlineEntry
from chinwag.domain.registry.refusals import KickCode

log = logging.getLogger(__name__)


class RedisRelayRouter:
    """A :class:`~chinwag.application.registry.ports.relay_router.RelayRouter`: an entry of
    this registry (``clients``) gets its push directly; another registry's gets a note on its
    ``cw:to:{rid}``, an offer with ``via`` = ``urls`` (this registry's advertised URLs)."""

    def __init__(
        self,
        redis: Redis,
        clients: LocalClients,
        urls: Sequence[str],
        *,
        stats: RegistryStats | None = None,
    ) -> None:
        self._redis = redis
        self._registry = clients.registry
        self._local = LocalRelayRouter(clients, urls)
        self._urls = list(urls)
        self._stats = stats

    async def offer(self, target: OnlineEntry, offer: RelayOffer) -> bool:
        if target.registry == self._registry:
            return await self._local.offer(target, offer)
        via = offer.via if offer.via is not None else tuple(self._urls)
        note = OfferNote(
            target.name, target.epoch, RelayOffer(offer.sid, offer.from_, offer.timeout, via)
        )
        return await self._send(target.registry, note)

    async def kick(self, entry: OnlineEntry, code: KickCode) -> None:
        if entry.registry == self._registry:
            await self._local.kick(entry, code)
        else:
            await self._send(entry.registry, KickNote(entry.name, entry.epoch, code))

    def advertised(self) -> list[str]:
        return list(self._urls)

    def advertise(self, urls: Sequence[str]) -> None:
        """``urls`` are this registry's from now on (known once it listens on a port the OS
        chose)."""
        self._urls = list(urls)

    async def _send(self, registry: str, note: OfferNote | KickNote) -> bool:
        """``note`` to ``registry``; False if no registry of that id listens (it is gone) or
        Redis is away."""
        try:
            receivers = await self._redis.publish(notes_channel(registry), encode_note(note))
        except (RedisError, OSError) as error:
            log.warning("a note to registry %s not sent (%s)", registry, error)
            return False
        if self._stats is not None:
            self._stats.bus_messages["out"] += 1
        return int(receivers) > 0
