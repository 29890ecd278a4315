"""Console commands, as JSON lines or slash commands, run against the use cases."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from chinwag.adapters.console.file_commands import (
    AcceptFileCommand,
    CancelFileCommand,
    DeclineFileCommand,
    FileCommand,
    FileUseCases,
    SendFileCommand,
    TransfersList,
    run_file_command,
)
from chinwag.adapters.console.group_names import pick_group
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.presence_commands import WatchCommand as WatchCommand
from chinwag.adapters.console.presence_commands import Who as Who
from chinwag.adapters.console.presence_commands import run_presence_command
from chinwag.application.files.status import TransferStatus
from chinwag.application.use_cases import (
    FindOnline,
    LoadHistory,
    SearchHistory,
    SendMessage,
    SendMessages,
    TrustContact,
    VerifyContact,
    WatchPeople,
    WhoAmI,
    WhoIsOnline,
)
from chinwag.application.use_cases.diagnose import DiagnosePeer, DiagnoseSelf
from chinwag.application.use_cases.send_messages import Draft, Outcome
from chinwag.domain.errors import DomainError
from chinwag.domain.group_log import GroupState

if TYPE_CHECKING:
    from chinwag.application.use_cases.groups import Groups
    from chinwag.application.use_cases.post_to_group import PostToGroup

log = logging.getLogger(__name__)


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Send(_Command):
    """A message to a person (``to``) or to a group (``group``): exactly one of them."""

    cmd: Literal["send"]
    to: str | None = None
    body: str
    group: UUID | None = None


class History(_Command):
    """A page of the conversation with a person (``with``) or of a group (``group``)."""

    cmd: Literal["history"]
    with_: str | None = Field(default=None, alias="with")
    limit: int = Field(default=50, ge=1, le=500)
    before: UUID | None = None
    group: UUID | None = None


class Search(_Command):
    cmd: Literal["search"]
    text: str
    limit: int = Field(default=50, ge=1, le=200)


class Quit(_Command):
    cmd: Literal["quit"]


class WhoAmICommand(_Command):
    cmd: Literal["whoami"]


class Verify(_Command):
    cmd: Literal["verify"]
    with_: str = Field(alias="with")
    number: str | None = Field(default=None, max_length=200)


class Trust(_Command):
    cmd: Literal["trust"]
    with_: str = Field(alias="with")
    fingerprint: str = Field(max_length=200)


class Doctor(_Command):
    """The connection doctor: about yourself, or (``with``) about how you reach somebody."""

    cmd: Literal["doctor"]
    with_: str | None = Field(default=None, alias="with")


class GroupCreate(_Command):
    cmd: Literal["group_create"]
    name: str
    members: tuple[str, ...] = ()


class GroupMember(_Command):
    """An admin's change about one member: add, remove, or make an admin."""

    cmd: Literal["group_add", "group_remove", "group_admin"]
    group: UUID
    member: str


class GroupLeave(_Command):
    cmd: Literal["group_leave"]
    group: UUID


class GroupRename(_Command):
    cmd: Literal["group_rename"]
    group: UUID
    name: str


class GroupsList(_Command):
    cmd: Literal["groups"]


GroupCommand = GroupCreate | GroupMember | GroupLeave | GroupRename | GroupsList

AnyCommand = (
    Send
    | Who
    | WatchCommand
    | History
    | Search
    | Quit
    | WhoAmICommand
    | Verify
    | Trust
    | Doctor
    | GroupCommand
    | FileCommand
)


class BadCommand(ValueError):
    """A command that cannot be run; the message says what is wrong, in our words."""


class CommandRunner:
    """Runs one parsed command; every refusal becomes an ``error`` event, never a crash."""

    def __init__(
        self,
        output: ConsoleOutput,
        send: SendMessage,
        who: WhoIsOnline,
        history: LoadHistory,
        search: SearchHistory,
        whoami: WhoAmI,
        verify: VerifyContact,
        trust: TrustContact,
        send_many: SendMessages | None = None,
        diagnose_self: DiagnoseSelf | None = None,
        diagnose_peer: DiagnosePeer | None = None,
        groups: Groups | None = None,
        post: PostToGroup | None = None,
        files: FileUseCases | None = None,
        find_online: FindOnline | None = None,
        watch_people: WatchPeople | None = None,
    ) -> None:
        self._output = output
        self._find_online = find_online
        self._watch_people = watch_people
        self._files = files
        self._groups = groups
        self._post = post
        self._diagnose_self = diagnose_self
        self._diagnose_peer = diagnose_peer
        self._send_many = send_many
        self._send = send
        self._who = who
        self._history = history
        self._search = search
        self._whoami = whoami
        self._verify = verify
        self._trust = trust

    async def send_many(self, sends: Sequence[Send]) -> list[Outcome]:
        """Send them all, sharing one commit where ``send_many`` was given; one outcome each,
        in order. Refusals are returned, not printed (the caller knows which command each
        answers); only "not signed in" is raised, for all of them."""
        direct = [(i, send) for i, send in enumerate(sends) if send.group is None]
        outcomes: list[Outcome | None] = [None] * len(sends)
        drafts = [Draft(send.to or "", send.body) for _, send in direct]
        if self._send_many is not None and drafts:
            for (index, _), outcome in zip(
                direct, await self._send_many.execute(drafts), strict=True
            ):
                outcomes[index] = outcome
        for index, send in enumerate(sends):
            if outcomes[index] is not None:
                continue
            try:
                if send.group is not None:
                    outcomes[index] = await self._posting().execute(send.group, send.body)
                else:
                    outcomes[index] = await self._send.execute(send.to or "", send.body)
            except DomainError as exc:
                outcomes[index] = exc
        return [outcome for outcome in outcomes if outcome is not None]

    async def run(self, command: AnyCommand) -> bool:
        """Run ``command``; False if it was refused (and the refusal printed)."""
        try:
            match command:
                case Send(group=None):
                    await self._send.execute(command.to or "", command.body)
                case Send(group=group) if group is not None:
                    await self._posting().execute(group, command.body)
                case Who() | WatchCommand():
                    await run_presence_command(
                        command, self._output, self._who, self._find_online, self._watch_people
                    )
                case History(group=None):
                    messages = await self._history.execute(
                        command.with_ or "", command.limit, command.before
                    )
                    self._output.history(command.with_ or "", messages)
                case History(group=group) if group is not None:
                    page = await self._history.group(group, command.limit, command.before)
                    self._output.group_history(group, page)
                case GroupCreate() | GroupMember() | GroupLeave() | GroupRename() | GroupsList():
                    await self._group(command)
                case Search():
                    self._output.search(
                        command.text, await self._search.execute(command.text, command.limit)
                    )
                case WhoAmICommand():
                    me = self._whoami.execute()
                    self._output.whoami(me.name, me.fingerprint)
                case Verify():
                    result = await self._verify.execute(command.with_, command.number)
                    self._output.safety_number(
                        result.name, result.number, result.fingerprint, result.verified
                    )
                case Trust():  # answered by the identity_trusted event the policy emits
                    await self._trust.execute(command.with_, command.fingerprint)
                case Doctor():
                    await self._doctor(command.with_)
                case (
                    SendFileCommand()
                    | AcceptFileCommand()
                    | DeclineFileCommand()
                    | CancelFileCommand()
                    | TransfersList()
                ):
                    await run_file_command(self._file_use_cases(), self._output, command)
                case Quit():
                    pass
        except DomainError as exc:
            self._output.error(exc.code, with_hint(exc))
            return False
        except Exception as exc:
            log.exception("command %s failed", command.cmd)
            self._output.error("internal", f"{command.cmd} failed: {exc}")
            return False
        return True

    async def find_group(self, named: str) -> GroupState:
        """The group the person means by ``named``, among those they are in (not those they
        left), as :func:`~chinwag.adapters.console.group_names.pick_group` finds it:
        ``UnknownGroup`` says why none is meant (no such group, or several: then with their
        ids)."""
        if self._groups is None:
            raise _Unavailable("groups are not available in this client")
        return pick_group(named, [state for state, left in await self._groups.list() if not left])

    async def list_transfers(self) -> list[TransferStatus]:
        """Every transfer, as ``ListTransfers`` gives them (the terminal finds an id's start
        among them)."""
        return await self._file_use_cases().list.execute()

    def _file_use_cases(self) -> FileUseCases:
        if self._files is None:
            raise _Unavailable("file transfer is not available in this client")
        return self._files

    def _posting(self) -> PostToGroup:
        if self._post is None:
            raise _Unavailable("groups are not available in this client")
        return self._post

    async def _group(self, command: GroupCommand) -> None:
        """A group command. A change is answered by the ``group`` event the change itself
        emits (as every member's client emits it), so nothing is printed twice."""
        if self._groups is None:
            raise _Unavailable("groups are not available in this client")
        groups = self._groups
        match command:
            case GroupCreate():
                await groups.create(command.name, command.members)
            case GroupMember(cmd="group_add"):
                await groups.add(command.group, command.member)
            case GroupMember(cmd="group_remove"):
                await groups.remove(command.group, command.member)
            case GroupMember():
                await groups.make_admin(command.group, command.member)
            case GroupLeave():
                await groups.leave(command.group)
            case GroupRename():
                await groups.rename(command.group, command.name)
            case GroupsList():
                self._output.groups(await groups.list())

    async def _doctor(self, name: str | None) -> None:
        if name is None:
            if self._diagnose_self is None:
                raise _Unavailable("the connection doctor is not available in this client")
            self._output.doctor_self(await self._diagnose_self.execute())
            return
        if self._diagnose_peer is None:
            raise _Unavailable("the connection doctor is not available in this client")
        self._output.doctor_peer(await self._diagnose_peer.execute(name))


class _Unavailable(DomainError):
    code = "unavailable"


def with_hint(exc: DomainError) -> str:
    """The refusal's text, with what to do about it where that is not obvious."""
    if exc.code == "registry_unavailable":
        return f"{exc} (is a registry running? `chinwag-registry` or `make registry` starts one)"
    if exc.code == "name_taken" and "another key" in str(exc):
        return (
            f"{exc}: this data folder does not hold that name's key. If you lost the folder it "
            "was created in, the registry's operator can free the name with "
            "`chinwag-registry release NAME` (your contacts will then see a key change)"
        )
    return str(exc)
