"""``relay``: a registered client asks the registry to relay a session to a name, because it
cannot connect to it directly. From ``adapters/registry/relay.py`` (``RelayHub.open``, 93-127)
without the data plane, in the same order and words: the relay must be on, the target online
(here or on another registry of the network), not the asker itself, and the relay's places and
memory must allow one more session.

The session lives on the asker's registry (its places and meters are counted here), so it is
made by this registry's relay (:class:`RelaySessions`) before the offer leaves; the offer then
goes through the :class:`RelayRouter` to whichever registry holds the target's sign-in (its
``epoch``): pushed here directly, or handed to the other registry, which tells the target to join
on one of this registry's URLs (``via``, filled in by the router as the offer crosses). An offer
that does not arrive drops its session at once: an unjoinable session would hold a place (and
the target's) until its join deadline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chinwag.application.registry.look_up import LookUp
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.relay_router import RelayOffer, RelayRouter, RelaySessions
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.addresses import address_group
from chinwag.domain.registry.presence import OnlineEntry
from chinwag.domain.registry.refusals import Refusal, RefusalCode

log = logging.getLogger(__name__)

NOT_REGISTERED = Refusal(RefusalCode.NOT_REGISTERED, "register first")
RELAY_OFF = Refusal(RefusalCode.RELAY_OFF, "this registry does not relay")
TO_YOURSELF = Refusal(RefusalCode.BAD_REQUEST, "a session to yourself needs no relay")


@dataclass(frozen=True, slots=True)
class RelayOpened:
    """A ``relay_ready``: session ``sid`` waits for both ends; ``to`` is the target's name as
    registered (not as the asker spelled it)."""

    sid: str
    to: str


class OfferRelay:
    """Answer ``relay`` (:meth:`execute`): a :class:`RelayOpened`, the offer delivered to the
    target, or a :class:`Refusal`."""

    def __init__(
        self,
        look_up: LookUp,
        sessions: RelaySessions,
        router: RelayRouter,
        stats: RegistryStats,
    ) -> None:
        self._look_up = look_up
        self._sessions = sessions
        self._router = router
        self._stats = stats

    async def execute(self, session: ClientSession, to: str) -> RelayOpened | Refusal:
        """Open a relay session from ``session`` (registered) to the name ``to`` and offer it
        to its holder, or say why not."""
        answer = await self._offer(session, to)
        if isinstance(answer, Refusal):
            self._stats.relay_refused[answer.code.value] += 1
        return answer

    async def _offer(self, session: ClientSession, to: str) -> RelayOpened | Refusal:
        if session.registration is None:
            return NOT_REGISTERED  # the dispatcher checks first; a use case must not trust it
        if not self._sessions.settings.enabled:
            return RELAY_OFF
        target = await self._look_up.find(to)
        if isinstance(target, Refusal):
            return target
        # The look-up may have waited for the store: read the asker again after it.
        asker = session.registration
        if asker is None or session.closed:
            return NOT_REGISTERED
        if target.key == asker.key:
            return TO_YOURSELF
        address = address_group(session.address)
        refusal = self._sessions.refusal(asker.key, target.key, target.name, address)
        if refusal is not None:
            return refusal
        # No await between the check and the making: the places seen are the places taken.
        sid = self._sessions.open(asker.key, target.key, address)
        offer = RelayOffer(sid, asker.name, self._sessions.settings.join_timeout)
        refusal = await self._deliver(target, offer)
        if refusal is not None:
            return refusal
        return RelayOpened(sid, target.name)

    async def _deliver(self, target: OnlineEntry, offer: RelayOffer) -> Refusal | None:
        """Route ``offer`` to ``target``; on failure (or if the wait is cancelled) its session
        is dropped, and the refusal says why."""
        delivered = False
        try:
            delivered = await self._router.offer(target, offer)
        except StoreUnavailable as exc:
            log.warning("could not offer a relay session to %s: %s", target.name, exc)
            return Refusal(
                RefusalCode.BUSY, f"the registry cannot reach {target.name} now; try again later"
            )
        finally:
            if not delivered:
                self._sessions.cancel(offer.sid)
        if not delivered:
            # Its registry is gone (its names are about to be swept) or it just left.
            log.info("relay offer to %s (%s) not delivered", target.name, target.epoch)
            return Refusal(RefusalCode.OFFLINE, f"{target.name} is offline")
        return None
