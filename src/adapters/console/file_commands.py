"""Console commands about files (send, accept, decline, cancel, list), as JSON lines or slash
commands, and how they run against the file use cases.

The use cases are named here by what the console calls (:class:`FileUseCases`), not imported:
the console only needs their ``execute``, and a client without file transfer passes none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from chinwag.application.files.status import TransferStatus
from chinwag.domain.transfer import Transfer


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SendFileCommand(_Command):
    """Offer the file at ``path`` to a person (``to``) or to a group (``group``): one of them."""

    cmd: Literal["send_file"]
    path: str
    to: str | None = None
    group: UUID | None = None


class AcceptFileCommand(_Command):
    """Accept an incoming file, into ``dir`` (else the downloads folder)."""

    cmd: Literal["accept_file"]
    id: UUID
    dir: str | None = None


class DeclineFileCommand(_Command):
    cmd: Literal["decline_file"]
    id: UUID


class CancelFileCommand(_Command):
    cmd: Literal["cancel_file"]
    id: UUID


class TransfersList(_Command):
    cmd: Literal["transfers"]


FileCommand = (
    SendFileCommand | AcceptFileCommand | DeclineFileCommand | CancelFileCommand | TransfersList
)


class SendsFile(Protocol):
    async def execute(
        self, path: str, *, to: str | None = None, group: UUID | None = None
    ) -> Transfer: ...


class AcceptsFile(Protocol):
    async def execute(self, transfer_id: UUID, directory: str | None = None) -> Transfer: ...


class EndsTransfer(Protocol):
    """Declines or cancels a transfer."""

    async def execute(self, transfer_id: UUID) -> Transfer: ...


class ListsTransfers(Protocol):
    async def execute(self) -> list[TransferStatus]: ...


@dataclass(frozen=True)
class FileUseCases:
    """The file use cases the console runs (the container's ``send_file``, ``accept_file``,
    ``decline_file``, ``cancel_file`` and ``list_transfers``)."""

    send: SendsFile
    accept: AcceptsFile
    decline: EndsTransfer
    cancel: EndsTransfer
    list: ListsTransfers


class FileAnswers(Protocol):
    """What a file command's answer is printed through (both console outputs)."""

    def transfer(self, transfer: Transfer) -> None: ...
    def transfers(self, statuses: list[TransferStatus]) -> None: ...


async def run_file_command(files: FileUseCases, output: FileAnswers, command: FileCommand) -> None:
    """Run ``command`` and print its answer: the transfer as it is now (an output prints it
    once: the use case may have told of the same change already), or the list.

    Paths are made absolute here, against the folder the client was started in: the
    transfer keeps its source (and target) path, and goes on after a restart made elsewhere.
    """
    match command:
        case SendFileCommand():
            path = absolute(command.path)
            output.transfer(await files.send.execute(path, to=command.to, group=command.group))
        case AcceptFileCommand():
            folder = None if command.dir is None else absolute(command.dir)
            output.transfer(await files.accept.execute(command.id, folder))
        case DeclineFileCommand():
            output.transfer(await files.decline.execute(command.id))
        case CancelFileCommand():
            output.transfer(await files.cancel.execute(command.id))
        case TransfersList():
            output.transfers(await files.list.execute())


def absolute(path: str) -> str:
    """``path`` against the folder the client was started in (no disk is read: cheap)."""
    return os.path.abspath(path)


MAX_PATH_CHARS = 4096
"""The longest path a command may name (Linux's PATH_MAX)."""
