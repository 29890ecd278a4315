"""What the use cases answer, as frames: a :class:`Refusal` is an ``error`` with the same word,
each result its server message. Pure functions; the dispatcher calls them."""

from __future__ import annotations

import base64
import functools

from chinwag.adapters.registry.frames import error_frame
from chinwag.adapters.registry.protocol import (
    ErrorCode,
    Found,
    Online,
    Presence,
    PresenceChanged,
    Registered,
    RelayIncoming,
    RelayReady,
    Unwatched,
    Watched,
    dump,
)
from chinwag.adapters.wire.codec import encode
from chinwag.application.registry.look_up import LookedUp
from chinwag.application.registry.register import Registered as SignedIn
from chinwag.application.registry.relay_offer import RelayOpened
from chinwag.application.registry.watch import Watched as WatchResult
from chinwag.application.registry.who import OnlinePage
from chinwag.domain.registry.refusals import Refusal


def refused(refusal: Refusal, rid: int | None) -> bytes:
    """``refusal`` as an ``error`` frame (the domain's codes are the wire's words)."""
    return error_frame(ErrorCode(refusal.code.value), refusal.message, rid)


def registered(result: SignedIn, rid: int | None) -> bytes:
    """``registered``, then the client's first ``presence``."""
    return encode(
        dump(Registered(rid=rid, user=result.name, host=result.host, port=result.port))
    ) + presence(result.online)


def presence(online: list[str]) -> bytes:
    return encode(dump(Presence(online=online)))


@functools.lru_cache(maxsize=4096)
def presence_changed(joined: tuple[str, ...], left: tuple[str, ...]) -> bytes:
    """One change goes to each of its watchers in the same pass: the frame is made once and
    reused (the recipients' sessions seal it each in their own key)."""
    return encode(dump(PresenceChanged(joined=list(joined), left=list(left))))


def found(result: LookedUp, rid: int | None) -> bytes:
    entry = result.entry
    return encode(
        dump(
            Found(
                rid=rid,
                user=entry.name,
                host=entry.host,
                port=entry.port,
                key=base64.b64encode(entry.key).decode("ascii"),
                reachable=entry.reachable,
                relay=result.relay,
            )
        )
    )


def relay_ready(result: RelayOpened, rid: int | None) -> bytes:
    return encode(dump(RelayReady(rid=rid, sid=result.sid, to=result.to)))


def relay_incoming(sid: str, from_: str, timeout: float, via: list[str] | None) -> bytes:
    incoming = RelayIncoming.model_validate(
        {"sid": sid, "from": from_, "timeout": timeout, "via": via or None}
    )
    return encode(dump(incoming))


def online(names: list[str], rid: int | None) -> bytes:
    """The answer to ``list``."""
    return encode(dump(Online(rid=rid, online=names)))


def online_page(page: OnlinePage, rid: int | None) -> bytes:
    """The answer to ``who``."""
    return encode(dump(Online(rid=rid, online=page.online, prefix=page.prefix, more=page.more)))


def watched(result: WatchResult, rid: int | None) -> bytes:
    return encode(dump(Watched(rid=rid, online=result.online, invalid=result.invalid or None)))


def unwatched(rid: int | None) -> bytes:
    return encode(dump(Unwatched(rid=rid)))
