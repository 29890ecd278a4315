"""Console commands, as JSON lines or slash commands, run against the use cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chinwag.adapters.console.output import ConsoleOutput
from chinwag.application.use_cases import LoadHistory, SearchHistory, SendMessage, WhoIsOnline
from chinwag.domain.errors import DomainError

log = logging.getLogger(__name__)

HELP = """Commands:
  /msg NAME TEXT     send TEXT to NAME; plain lines then go to NAME too
  /who               who is online
  /history NAME [N]  the last N (default 20) messages with NAME
  /search TEXT       messages containing every word of TEXT
  /quit              sign out and leave (Ctrl-D too)
  /help              this help"""


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


class Noop(_Command):
    """An empty line in text mode: nothing to do, nothing to complain about."""

    cmd: Literal["noop"] = "noop"


Command = Annotated[Send | Who | History | Search | Quit, Field(discriminator="cmd")]
COMMAND = TypeAdapter(Command)


class BadCommand(ValueError):
    pass


def parse_json_command(line: str) -> Send | Who | History | Search | Quit:
    try:
        return COMMAND.validate_json(line)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        raise BadCommand(
            f"{where + ': ' if where else ''}{error['msg']} "
            "(commands: send, who, history, search, quit)"
        ) from None


@dataclass
class TextState:
    """The person's current conversation in text mode."""

    chatting_with: str | None = None


def parse_text_command(
    line: str, state: TextState
) -> Send | Who | History | Search | Quit | Noop | None:
    """A slash command or a plain line as a command; ``None`` for help; BadCommand if unclear.

    ``state`` says who plain lines go to; the caller moves it once a ``/msg`` succeeds."""
    text = line.rstrip("\n")
    if not text.startswith("/"):
        if not text.strip():
            return Noop()
        if state.chatting_with is None:
            raise BadCommand("who to? start with /msg NAME TEXT (see /help)")
        return Send(cmd="send", to=state.chatting_with, body=text)
    name, _, rest = text[1:].partition(" ")
    rest = rest.strip()
    match name.lower():
        case "msg" | "m":
            to, _, body = rest.partition(" ")
            if not to or not body.strip():
                raise BadCommand("usage: /msg NAME TEXT")
            return Send(cmd="send", to=to, body=body)
        case "who" | "w":
            return Who(cmd="who")
        case "history" | "h":
            parts = rest.split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
                raise BadCommand("usage: /history NAME [N]")
            limit = int(parts[1]) if len(parts) == 2 else 20
            return History(cmd="history", with_=parts[0], limit=max(1, min(limit, 500)))
        case "search" | "s":
            if not rest:
                raise BadCommand("usage: /search TEXT")
            return Search(cmd="search", text=rest)
        case "quit" | "q" | "exit":
            return Quit(cmd="quit")
        case "help" | "?":
            return None
    raise BadCommand(f"unknown command /{name} (see /help)")


class CommandRunner:
    """Runs one parsed command; every refusal becomes an ``error`` event, never a crash."""

    def __init__(
        self,
        output: ConsoleOutput,
        send: SendMessage,
        who: WhoIsOnline,
        history: LoadHistory,
        search: SearchHistory,
    ) -> None:
        self._output = output
        self._send = send
        self._who = who
        self._history = history
        self._search = search

    async def run(self, command: Send | Who | History | Search | Quit | Noop) -> bool:
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
                case Quit() | Noop():
                    pass
        except DomainError as exc:
            self._output.error(exc.code, with_hint(exc))
            return False
        except Exception as exc:
            log.exception("command %s failed", command.cmd)
            self._output.error("internal", f"{command.cmd} failed: {exc}")
            return False
        return True


def with_hint(exc: DomainError) -> str:
    """The refusal's text, with what to do about it where that is not obvious."""
    if exc.code == "registry_unavailable":
        return f"{exc} (is a registry running? `chinwag-registry` or `make registry` starts one)"
    return str(exc)
