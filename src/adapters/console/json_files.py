"""``chinwag-cli --json`` and files: the commands (``send_file``, ``accept_file``,
``decline_file``, ``cancel_file``, ``transfers``) as :mod:`json_commands` checks them, and the
fields of a ``transfer`` event (see README, "JSON mode")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

from chinwag.adapters.console.file_commands import (
    MAX_PATH_CHARS,
    AcceptFileCommand,
    CancelFileCommand,
    DeclineFileCommand,
    FileCommand,
    SendFileCommand,
    TransfersList,
)
from chinwag.adapters.console.json_fields import GROUP_ID, JsonField, is_name, is_uuid
from chinwag.domain.filename import safe_filename
from chinwag.domain.transfer import Direction, Transfer, TransferState

FILE_COMMANDS: Final = ("send_file", "accept_file", "decline_file", "cancel_file", "transfers")

FILE_USAGE: Final = {
    "send_file": '{"cmd": "send_file", "to": NAME, "path": PATH} (or "group": GID instead of "to")',
    "accept_file": '{"cmd": "accept_file", "id": TID, "dir": PATH} ("dir" optional: the '
    "downloads folder otherwise)",
    "decline_file": '{"cmd": "decline_file", "id": TID}',
    "cancel_file": '{"cmd": "cancel_file", "id": TID}',
    "transfers": '{"cmd": "transfers"}',
}


def _path(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_PATH_CHARS and "\0" not in value


_PATH_WHAT = f"a file's path (at most {MAX_PATH_CHARS:,} characters, no NUL)"
_TID = JsonField('a transfer id (as in a transfer\'s "id")', is_uuid)

FILE_FIELDS: Final[Mapping[str, Mapping[str, JsonField]]] = {
    "send_file": {
        "to": JsonField("a name", is_name, required=False),
        "group": JsonField(GROUP_ID, is_uuid, required=False),
        "path": JsonField(_PATH_WHAT, _path),
    },
    "accept_file": {
        "id": _TID,
        "dir": JsonField(
            f"a folder's path (at most {MAX_PATH_CHARS:,} characters, no NUL)",
            _path,
            required=False,
        ),
    },
    "decline_file": {"id": _TID},
    "cancel_file": {"id": _TID},
    "transfers": {},
}

FILE_ONE_OF: Final = {"send_file": ("to", "group")}


def build_file_command(cmd: str, data: dict[str, Any]) -> FileCommand:
    """The command's model from fields already checked."""
    if cmd == "send_file":
        group = data.get("group")
        return SendFileCommand(
            cmd="send_file",
            path=data["path"],
            to=data.get("to"),
            group=None if group is None else UUID(group),
        )
    if cmd == "transfers":
        return TransfersList(cmd="transfers")
    tid = UUID(data["id"])
    if cmd == "accept_file":
        return AcceptFileCommand(cmd="accept_file", id=tid, dir=data.get("dir"))
    if cmd == "decline_file":
        return DeclineFileCommand(cmd="decline_file", id=tid)
    assert cmd == "cancel_file"
    return CancelFileCommand(cmd="cancel_file", id=tid)


def shown_name(transfer: Transfer) -> str:
    """The file's name as clients show it: an incoming one cleaned (it is the sender's claim,
    and the name it is saved under), an outgoing one as the user's own file is called."""
    if transfer.direction is Direction.IN:
        return safe_filename(transfer.offer.name)
    return transfer.offer.name


def transfer_fields(transfer: Transfer, rate: float) -> dict[str, Any]:
    """A transfer as the ``transfer`` event and the ``transfers`` list carry it.

    ``from`` (in) or ``to`` (out: the recipient; none on a group offer's own record),
    ``group`` for a group's offer, ``reason`` when there is one, ``path`` once an incoming
    file is saved."""
    offer = transfer.offer
    fields: dict[str, Any] = {"id": str(transfer.id), "direction": transfer.direction.value}
    if transfer.direction is Direction.IN:
        fields["from"] = transfer.peer
    elif transfer.peer:
        fields["to"] = transfer.peer
    if transfer.group_id is not None:
        fields["group"] = str(transfer.group_id)
    fields |= {
        "name": shown_name(transfer),
        "size": offer.size,
        "sha256": offer.sha256.hex(),
        "type": offer.mime,
        "state": transfer.state.value,
        "bytes": transfer.bytes,
        "rate": _number(rate),
    }
    if transfer.reason is not None:
        fields["reason"] = transfer.reason
    if (
        transfer.direction is Direction.IN
        and transfer.state is TransferState.DONE
        and transfer.path is not None
    ):
        fields["path"] = transfer.path
    return fields


def _number(rate: float) -> float:
    """A rate JSON can carry: finite, not negative, to a tenth of a byte per second."""
    if not math.isfinite(rate) or rate < 0:
        return 0.0
    return round(rate, 1)
