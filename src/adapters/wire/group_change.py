"""A group change in its canonical JSON (what its author signed, without the
``chinwag-group-change:`` context) back into the domain's :class:`Change`, and the change into
it: for the history file and the peer protocol's ``group_changes`` frame. The domain writes that
JSON (:meth:`Change.signed_bytes`) but, holding no codec, does not read it.

A caller must check that the change it rebuilt signs the very bytes it read: the model refuses
malformed fields, not a JSON spelled differently from the canonical one. (On the wire that check
is the signature's: a change is verified over the canonical bytes of what was rebuilt, so a
change spelt differently on the way is either the same change or a forged one.)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from pydantic import ValidationError

from chinwag.domain.group import CHANGE_CONTEXT, CHANGE_FORMAT, MAX_SIGNATURE, Change

TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
"""How a change's time is written in its signed bytes (:meth:`Change.signed_bytes`)."""

SIGNATURE_FIELD: Final = "sig"
"""The field of a change on the peer wire that carries its signature (base64)."""


def change_to_json(change: Change) -> bytes:
    """``change``'s canonical JSON: the bytes its author signed, without the context prefix
    (and without the signature, which travels beside it)."""
    return change.signed_bytes()[len(CHANGE_CONTEXT) :]


def change_from_json(content: bytes, signature: bytes) -> Change:
    """The change whose canonical JSON is ``content``, carrying ``signature``; ValueError (or
    TypeError, KeyError) if ``content`` is not one."""
    fields: dict[str, Any] = json.loads(content.decode("utf-8"))
    if not isinstance(fields, dict):
        raise ValueError(f"not a {CHANGE_FORMAT} change")
    return _change(fields, signature)


def _change(fields: dict[str, Any], signature: bytes) -> Change:
    """The change whose canonical JSON object, parsed, is ``fields`` (consumed)."""
    if fields.pop("type", None) != CHANGE_FORMAT:
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


def change_to_wire(change: Change) -> bytes:
    """``change`` as one JSON object of the peer protocol: its canonical JSON object with one
    field more, ``sig``, the base64 of its signature."""
    content = change_to_json(change)
    signature = base64.b64encode(change.signature).decode("ascii")
    # The canonical object is never empty (it has a type), so the signature goes in first.
    return b'{"' + SIGNATURE_FIELD.encode() + b'":"' + signature.encode() + b'",' + content[1:]


def change_from_wire(value: object) -> Change:
    """The change a peer sent as :func:`change_to_wire` writes it: a JSON object (parsed) with
    the canonical fields and ``sig``. ValueError, with what is wrong, if it is not one."""
    if not isinstance(value, Mapping):
        raise ValueError("a change is a JSON object")
    fields = dict(value)
    encoded = fields.pop(SIGNATURE_FIELD, None)
    if not isinstance(encoded, str):
        raise ValueError(f"a change carries its signature as {SIGNATURE_FIELD!r} (base64)")
    signature = decode_signature(encoded)
    try:
        return _change(fields, signature)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        # A rule's own words, not pydantic's "Value error, " before them a second time.
        what = str(error.get("ctx", {}).get("error", error["msg"]))
        raise ValueError(f"{where}: {what}" if where else what) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"not a {CHANGE_FORMAT} change ({detail})") from None


def decode_signature(encoded: str) -> bytes:
    """A signature from its base64 (standard alphabet, padded), of at most
    :data:`MAX_SIGNATURE` bytes; ValueError otherwise. An empty one is no error here: it does
    not verify, which is the application's to say (for that one message or change)."""
    if len(encoded) > 4 * -(-MAX_SIGNATURE // 3):
        raise ValueError(f"a signature has at most {MAX_SIGNATURE} bytes")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signature is base64 (standard alphabet, padded)") from None
    if len(signature) > MAX_SIGNATURE:
        raise ValueError(f"a signature has at most {MAX_SIGNATURE} bytes")
    return signature
