"""Console commands, as JSON lines or slash commands, run against the use cases."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from chinwag.adapters.console.output import ConsoleOutput
from chinwag.application.use_cases import (
    LoadHistory,
    SearchHistory,
    SendMessage,
    SendMessages,
    TrustContact,
    VerifyContact,
    WhoAmI,
    WhoIsOnline,
)
from chinwag.application.use_cases.diagnose import DiagnosePeer, DiagnoseSelf
from chinwag.application.use_cases.send_messages import Draft, Outcome
from chinwag.domain.errors import DomainError

log = logging.getLogger(__name__)


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Send(_Command):
    cmd: Literal["send"]
    to: str
    body: str


class Who(_Command):
    cmd: Literal["who"]


class History(_Command):
    cmd: Literal["history"]
    with_: str = Field(alias="with")
    limit: int = Field(default=50, ge=1, le=500)
    before: UUID | None = None


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


AnyCommand = Send | Who | History | Search | Quit | WhoAmICommand | Verify | Trust | Doctor


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
    ) -> None:
        self._output = output
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
        drafts = [Draft(send.to, send.body) for send in sends]
        if self._send_many is not None:
            return await self._send_many.execute(drafts)
        outcomes: list[Outcome] = []
        for draft in drafts:
            try:
                outcomes.append(await self._send.execute(draft.to, draft.body))
            except DomainError as exc:
                outcomes.append(exc)
        return outcomes

    async def run(self, command: AnyCommand) -> bool:
        """Run ``command``; False if it was refused (and the refusal printed)."""
        try:
            match command:
                case Send():
                    await self._send.execute(command.to, command.body)
                case Who():
                    self._output.online(self._who.execute())
                case History():
                    messages = await self._history.execute(
                        command.with_, command.limit, command.before
                    )
                    self._output.history(command.with_, messages)
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

    async def _doctor(self, name: str | None) -> None:
        if name is None:
            if self._diagnose_self is None:
                raise _NoDoctor("the connection doctor is not available in this client")
            self._output.doctor_self(await self._diagnose_self.execute())
            return
        if self._diagnose_peer is None:
            raise _NoDoctor("the connection doctor is not available in this client")
        self._output.doctor_peer(await self._diagnose_peer.execute(name))


class _NoDoctor(DomainError):
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
