"""Whom this client asks the registry to tell it about: the people it waits for.

A registry with thousands online pushes each client only the people it watches, and what waits
for presence (the courier's queued messages, group sync, transfers, last seen: see
:mod:`~chinwag.application.presence`) waits for contacts, the peers of direct conversations
and the members of the user's groups. So those are watched without the user asking: all of
them at sign-in, and each newcomer as they appear (a conversation started, a contact pinned, a
group's members changed: the hooks below, registered by :func:`follow`).

Watching is a help, never a condition: a registry out of reach, or one that will watch no more
(``WatchLimit``), is logged and the rest goes on; sign-in and sending never fail for it. The
directory keeps the list for the session and sends it again after every reconnection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine, Iterable
from typing import Any

from chinwag.application.conversations import ConversationLedger
from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.contact_repository import ContactRepository
from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.ports.directory import Directory
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.conversation import ConversationKind
from chinwag.domain.registry.presence import MAX_WATCHED
from chinwag.domain.user import valid_usernames

log = logging.getLogger(__name__)


class WatchList:
    """Tells the directory to watch the people this user has to do with."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        contacts: ContactRepository,
        conversations: ConversationRepository,
        groups: GroupBook,
    ) -> None:
        self._session = session
        self._directory = directory
        self._contacts = contacts
        self._conversations = conversations
        self._groups = groups
        self._asking: set[str] = set()
        """Names being sent to the directory now (so a burst of hooks asks once)."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """At sign-in (the session names the user): watch everyone this user has to do with,
        the most recent conversations first, up to what one client may watch. Never raises
        but for cancellation: a failure is logged."""
        try:
            names = await self._everyone(self._session.require_user())
        except Exception:
            log.exception("could not read whom to watch; presence covers fewer people")
            return
        room = MAX_WATCHED - len(self._directory.watched())
        if len(names) > room:
            log.warning(
                "%d people to watch, %d more than a client may: the least recent are left out",
                len(names),
                len(names) - max(room, 0),
            )
            names = names[: max(room, 0)]
        if names:
            await self._watch(names)

    def add(self, names: Iterable[str]) -> None:
        """Watch these people too, in the background (hooks call this from inside other work,
        which must neither wait for the registry nor fail for it). Names already watched, or
        being asked for, and the user's own, cost a set lookup."""
        new = valid_usernames(names) - self._directory.watched() - self._asking
        new.discard(self._session.user or "")
        if not new:
            return
        self._asking |= new
        self._spawn(self._watch(sorted(new), asking=new))

    # --- the hooks -------------------------------------------------------------------------

    def conversation_started(self, peer: str) -> None:
        """A direct conversation with ``peer`` is used (for the first time this run)."""
        self.add((peer,))

    def contact_pinned(self, name: str) -> None:
        """``name`` became a contact (pinned on first use)."""
        self.add((name,))

    def chain_changed(self, before: GroupView | None, after: GroupView) -> None:
        """A group's head moved: watch its members that are new to this user (all of them when
        the user was just added), if the user is a member."""
        me = self._session.user
        if me is None or not after.head.is_member(me):
            return
        known: set[str] = set()
        if before is not None and before.head.is_member(me):
            known.update(before.head.names)
        self.add(set(after.head.names) - known)

    async def idle(self) -> None:
        """Until no watch request is under way (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- inside ----------------------------------------------------------------------------

    async def _everyone(self, me: str) -> list[str]:
        """Everyone to watch, most wanted first: the peers of direct conversations (the latest
        first), then contacts, then the members of the user's groups."""
        names: list[str] = []
        for conversation in await self._conversations.list_all():
            if conversation.kind is ConversationKind.DIRECT and me in conversation.participants:
                names.append(conversation.other_than(me))
        names.extend(contact.name for contact in await self._contacts.list_all())
        for state, left in await self._groups.mine():
            if not left:
                names.extend(state.names)
        watched = self._directory.watched()
        return [name for name in dict.fromkeys(names) if name != me and name not in watched]

    async def _watch(self, names: Collection[str], asking: set[str] | None = None) -> None:
        try:
            await self._directory.watch(names)
        except Exception as exc:  # out of reach, WatchLimit, ...: presence covers fewer
            log.warning("could not watch %d people (%s); going on without", len(names), exc)
        finally:
            if asking is not None:
                self._asking -= asking

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def follow(
    watch_list: WatchList, ledger: ConversationLedger, trust: TrustPolicy, groups: GroupBook
) -> WatchList:
    """``watch_list``, told of every newcomer: a direct conversation first used, a contact
    pinned, a group's members changed (the composition root calls this once)."""
    ledger.on_direct(watch_list.conversation_started)
    trust.on_pinned(watch_list.contact_pinned)
    groups.on_chain_change(watch_list.chain_changed)
    return watch_list
