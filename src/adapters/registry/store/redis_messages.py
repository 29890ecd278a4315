"""What registries say to each other through Redis: the channel names and every message's
format, in one place for the scripts that publish (names, presence) and the bus that listens.

- ``cw:p:{name}``: ``name``'s presence changes, ``{"n", "on": 1|0, "e", "r"}`` (published by
  the presence scripts, ``cjson`` in Lua or :func:`encode_change`).
- ``cw:to:{rid}``: notes to registry ``rid``: a kick ``{"t": "kick", "n", "e", "code"}`` or a
  relay offer ``{"t": "offer", "n", "e", "sid", "from", "timeout", "via"}``.
- ``cw:released``: an operator's release: the bare name (``{"n": name}`` is read too).
"""

from __future__ import annotations

import json
from typing import Any

from chinwag.application.registry.ports.presence_bus import KickNote, OfferNote, ReleasedNote
from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.domain.registry.presence import PresenceChange
from chinwag.domain.registry.refusals import KickCode

PRESENCE_PREFIX = "cw:p:"
PRESENCE_PATTERN = PRESENCE_PREFIX + "*"
NOTES_PREFIX = "cw:to:"
RELEASED_CHANNEL = "cw:released"


def presence_channel(name: str) -> str:
    return PRESENCE_PREFIX + name


def notes_channel(registry: str) -> str:
    return NOTES_PREFIX + registry


# -- payloads ----------------------------------------------------------------------------------


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_change(change: PresenceChange) -> bytes:
    """A change as the scripts publish it: ``{"n", "on", "e", "r"}`` (``on`` 1 or 0)."""
    message = {"n": change.name, "on": 1 if change.online else 0, "e": change.epoch}
    message["r"] = change.registry
    return json.dumps(message, ensure_ascii=False).encode()


def decode_change(data: bytes | str) -> PresenceChange:
    """A change from its message on ``cw:p:{name}``; ValueError if it is not one."""
    try:
        message = json.loads(data)
        name, online, epoch, registry = message["n"], message["on"], message["e"], message["r"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a presence change: {data!r}") from exc
    if not all(isinstance(part, str) for part in (name, epoch, registry)):
        raise ValueError(f"not a presence change: {data!r}")
    if online not in (0, 1):  # True and False are 1 and 0 too
        raise ValueError(f"not a presence change: {data!r}")
    return PresenceChange(name, bool(online), epoch, registry)


def encode_note(note: OfferNote | KickNote) -> str:
    if isinstance(note, KickNote):
        return _dump({"t": "kick", "n": note.name, "e": note.epoch, "code": str(note.code)})
    offer = note.offer
    via = None if offer.via is None else list(offer.via)
    return _dump(
        {
            "t": "offer",
            "n": note.name,
            "e": note.epoch,
            "sid": offer.sid,
            "from": offer.from_,
            "timeout": offer.timeout,
            "via": via,
        }
    )


def decode_note(data: bytes | str) -> OfferNote | KickNote:
    value = json.loads(data)
    name, epoch = _text(value["n"]), _text(value["e"])
    if value["t"] == "kick":
        return KickNote(name, epoch, KickCode(value["code"]))
    if value["t"] == "offer":
        via = value.get("via")
        offer = RelayOffer(
            _text(value["sid"]),
            _text(value["from"]),
            float(value["timeout"]),
            None if via is None else tuple(_text(url) for url in via),
        )
        return OfferNote(name, epoch, offer)
    raise ValueError(f"unknown note {value!r}")


def decode_released(data: bytes | str) -> ReleasedNote:
    text = data.decode() if isinstance(data, bytes) else data
    if text.startswith("{"):
        text = _text(json.loads(text)["n"])
    if not text:
        raise ValueError("an empty name")
    return ReleasedNote(text)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value
