"""Runs the lines a person types, in a full terminal or from a pipe alike."""

from __future__ import annotations

from collections.abc import Callable

from chinwag.adapters.console.commands import (
    AnyCommand,
    BadCommand,
    CommandRunner,
    Doctor,
    GroupCreate,
    GroupLeave,
    GroupMember,
    GroupRename,
    Quit,
    Send,
    with_hint,
)
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.text_commands import (
    HELP,
    PLAIN_HELP,
    Clear,
    ForGroup,
    Noop,
    TalkTo,
    TextState,
    parse_text_command,
)
from chinwag.adapters.console.text_files import FileLine, run_file_line
from chinwag.adapters.console.text_output import TextOutput
from chinwag.domain.errors import DomainError
from chinwag.domain.user import normalize_username


class TextCommands:
    """Runs the lines a person types, one at a time, in either kind of session."""

    def __init__(
        self,
        output: ConsoleOutput,
        runner: CommandRunner,
        *,
        terminal: bool,
        clear: Callable[[], None] | None = None,
    ) -> None:
        self.state = TextState()
        self._output = output
        self._runner = runner
        self._terminal = terminal
        self._clear = clear
        if isinstance(output, TextOutput):
            output.on_incoming(self._incoming)

    def _people(self) -> list[str]:
        """The people the user knows (a group named as one of them is unclear to /send)."""
        return self._output.names() if isinstance(self._output, TextOutput) else []

    def _incoming(self, sender: str) -> None:
        """With no conversation yet (after a restart), the first person who writes becomes it,
        so a plain line answers them; a conversation chosen with ``/msg`` is never moved."""
        if self.state.chatting_with is None and self.state.group is None:
            self.state.chatting_with = sender

    async def handle(self, line: str) -> bool:
        """Run ``line``; False once the person asked to quit."""
        try:
            command = parse_text_command(line, self.state)
        except BadCommand as exc:
            self._output.error("bad_command", str(exc))
            return True
        if command is None:
            self._output.info(HELP if self._terminal else PLAIN_HELP)
        elif isinstance(command, Quit):
            return False
        elif isinstance(command, Noop):
            pass
        elif isinstance(command, Clear):
            if self._clear is not None:
                self._clear()
            else:
                self._output.info("* /clear works in a full terminal, not in a pipe or TERM=dumb")
        elif isinstance(command, TalkTo):
            self.state.chatting_with, self.state.group = command.name, None
            self._output.info(f"* plain lines now go to {command.name}")
        elif isinstance(command, ForGroup):
            await self._for_group(command)
        elif isinstance(command, FileLine):
            conversation = (self.state.chatting_with, self.state.group)
            await run_file_line(command, self._runner, self._output, conversation, self._people)
        elif isinstance(command, Doctor):
            who = "your connection" if command.with_ is None else f"how you reach {command.with_}"
            self._output.info(f"* checking {who}… (a few seconds at most)")
            await self._runner.run(command)
        elif (
            await self._runner.run(command) and isinstance(command, Send) and command.to is not None
        ):
            # Plain lines go there now.
            self.state.chatting_with, self.state.group = normalize_username(command.to), None
        return True

    async def _for_group(self, command: ForGroup) -> None:
        """Find the group the person named, then run the command for it."""
        if command.action == "new":
            await self._runner.run(
                GroupCreate(cmd="group_create", name=command.group, members=command.people)
            )
            return
        try:
            group = await self._runner.find_group(command.group)
        except DomainError as exc:
            self._output.error(exc.code, with_hint(exc))
            return
        run: AnyCommand
        match command.action:
            case "send":
                run = Send(cmd="send", group=group.id, body=command.argument)
            case "leave":
                run = GroupLeave(cmd="group_leave", group=group.id)
            case "rename":
                run = GroupRename(cmd="group_rename", group=group.id, name=command.argument)
            case "add":
                run = GroupMember(cmd="group_add", group=group.id, member=command.argument)
            case "remove":
                run = GroupMember(cmd="group_remove", group=group.id, member=command.argument)
            case "admin":
                run = GroupMember(cmd="group_admin", group=group.id, member=command.argument)
        if await self._runner.run(run) and command.action == "send":
            if self.state.group != group.id:
                self._output.info(f"* plain lines now go to the group {group.name}")
            self.state.chatting_with, self.state.group = None, group.id
            self.state.group_name = group.name
