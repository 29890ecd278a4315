"""The terminal client's commands for people: slash commands, and plain lines to the current
conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from chinwag.adapters.console.commands import (
    AnyCommand,
    BadCommand,
    History,
    Quit,
    Search,
    Send,
    Trust,
    Verify,
    Who,
    WhoAmICommand,
)

HELP = """Commands:
  /msg NAME TEXT     send TEXT to NAME; plain lines then go to NAME too
  /who               who is online
  /history NAME [N]  the last N (default 20) messages with NAME
  /search TEXT       messages containing every word of TEXT
  /whoami            your name and your key's fingerprint
  /verify NAME [N]   the safety number with NAME; with the number they read you, mark verified
  /trust NAME FP     accept NAME's new key (its fingerprint FP) after a key change
  /quit              sign out and leave (Ctrl-D too)
  /help              this help"""


class Noop(BaseModel):
    """An empty line in text mode: nothing to do, nothing to complain about."""

    model_config = ConfigDict(frozen=True)

    cmd: Literal["noop"] = "noop"


@dataclass
class TextState:
    """The person's current conversation in text mode."""

    chatting_with: str | None = None


def parse_text_command(line: str, state: TextState) -> AnyCommand | Noop | None:
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
        case "whoami":
            return WhoAmICommand(cmd="whoami")
        case "verify":
            who, _, number = rest.partition(" ")
            if not who:
                raise BadCommand("usage: /verify NAME [NUMBER]")
            return Verify(cmd="verify", with_=who, number=number.strip() or None)
        case "trust":
            who, _, typed = rest.partition(" ")
            if not who or not typed.strip():
                raise BadCommand("usage: /trust NAME FINGERPRINT")
            return Trust(cmd="trust", with_=who, fingerprint=typed.strip())
        case "help" | "?":
            return None
    raise BadCommand(f"unknown command /{name} (see /help)")
