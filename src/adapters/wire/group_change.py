"""A group change in its canonical JSON (what its author signed, without the
``chinwag-group-change:`` context) back into the domain's :class:`Change`: for the history file
and, later, the peer protocol's sync frames. The domain writes that JSON
(:meth:`Change.signed_bytes`) but, holding no codec, does not read it.

A caller must check that the change it rebuilt signs the very bytes it read: the model refuses
malformed fields, not a JSON spelled differently from the canonical one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from chinwag.domain.group import CHANGE_FORMAT, Change

TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
"""How a change's time is written in its signed bytes (:meth:`Change.signed_bytes`)."""


def change_from_json(content: bytes, signature: bytes) -> Change:
    """The change whose canonical JSON is ``content``, carrying ``signature``; ValueError (or
    TypeError, KeyError) if ``content`` is not one."""
    fields: dict[str, Any] = json.loads(content.decode("utf-8"))
    if not isinstance(fields, dict) or fields.pop("type", None) != CHANGE_FORMAT:
        raise ValueError(f"not a {CHANGE_FORMAT} change")
    fields["group"] = UUID(fields["group"])
    fields["prev"] = bytes.fromhex(fields["prev"])
    fields["at"] = datetime.strptime(fields["at"], TIME_FORMAT).replace(tzinfo=UTC)
    if "key" in fields:
        fields["key"] = bytes.fromhex(fields["key"])
    if "members" in fields:
        fields["members"] = tuple(
            {"name": member["name"], "key": bytes.fromhex(member["key"])}
            for member in fields["members"]
        )
    return Change(**fields, signature=signature)
