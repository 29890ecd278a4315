"""History that fills itself in: members tell each other how far they are in a group
(``group_have``) and hand over what the other lacks, changes and messages, whoever wrote them.

When (each bounded; a failure is logged and left to the next trigger, never raised to the user):

- a member of a group this user is in comes online (presence; the first list after signing in
  names everybody online, so signing in syncs with every online member): our have, at most once
  per :attr:`SyncSettings.interval` per peer and group;
- a message from a peer had to wait (``unknown_group``, ``group_behind``, ``group_gap``), or
  changes from it follow one not known here: our have to that peer, as rate-limited;
- this user changed a group: the whole log goes to every member of the new state and to a
  member who was removed (so it learns it), without waiting.

A have is answered one at a time per peer and group (later haves are folded into the next
answer), as :mod:`~chinwag.application.groups.answers` says: our changes to a member when the
heads differ (to a former member, the log up to its departure), messages only between members,
our have when we lack something.

Whom: only peers a group's log lists, holding the key it gives them (and the key pinned for
them, if any); and, only to ask what we lack (our head, never who posted what), a peer pinned
already when the group is not known here or the peer says it is further than our log
(:mod:`~chinwag.application.groups.reach`). Sync never pins a key nor accepts anybody as a
contact. How much: what a peer makes us do (a lookup, and the frames that follow) is paid from
its bucket of tokens (:mod:`~chinwag.application.groups.pace`), so a peer inventing group ids
costs a bounded amount of work, not one lookup per id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol
from uuid import UUID

from chinwag.application.errors import ChatError
from chinwag.application.groups.answers import Handed, HaveAnswers, our_have
from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.pace import AskedRecently, PeerBuckets, SyncSettings
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.groups.reach import LastLocations, PeerReach
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.directory import Directory, RegistryStatus
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import GroupHave, PeerTransport
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.group_log import GroupState

__all__ = ["GroupSync", "LastLocations", "SyncSettings"]

log = logging.getLogger(__name__)


class DeferredDeliveries(Protocol):
    """The courier, as sync tells it that a peer may now take what it deferred."""

    def retry_group(self, name: str) -> None: ...


class GroupSync:
    """Starts and answers syncs of groups with other members (see the module's text)."""

    def __init__(
        self,
        session: Session,
        book: GroupBook,
        progress: GroupProgress,
        messages: MessageRepository,
        transport: PeerTransport,
        directory: Directory,
        trust: TrustPolicy,
        locations: LastLocations,
        clock: Clock,
        settings: SyncSettings | None = None,
        deferred: DeferredDeliveries | None = None,
    ) -> None:
        self._deferred = deferred
        self._session = session
        self._book = book
        self._progress = progress
        self._transport = transport
        self._settings = settings = settings or SyncSettings()
        self._reach = PeerReach(directory, trust, locations)
        self._buckets = PeerBuckets(clock, settings.burst, settings.rate)
        self._asked = AskedRecently(clock, settings.interval)
        self._answers = HaveAnswers(
            progress, messages, transport, self._reach, self._buckets, settings
        )
        self._online: frozenset[str] = frozenset()
        self._answering: dict[tuple[str, UUID], GroupHave | None] = {}
        """Answers under way, each with the have that came meanwhile (answered next)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        book.on_own_change(self.push)

    # --- triggers ----------------------------------------------------------------------------

    def online(self, names: frozenset[str]) -> None:
        """Presence: whoever just came online gets our have of every group we share."""
        joined, self._online = names - self._online, names
        me = self._session.user
        joined -= {me}
        if me is not None and joined:
            self._spawn(self._greet(me, joined))

    def registry_status(self, status: RegistryStatus) -> None:
        """Once the registry is back, its first presence list counts everybody as new; when
        this user signs out, the sync sends under way stop."""
        if status is not RegistryStatus.CONNECTED:
            self._online = frozenset()
        if status is RegistryStatus.DISCONNECTED:
            for task in self._tasks:
                task.cancel()

    def request(self, peer: str, group: UUID) -> None:
        """Ask ``peer`` for what we lack of ``group`` (at most once per interval, and only
        while the peer has a token: a flood of made-up group ids costs nothing past that)."""
        if (
            peer != self._session.user
            and self._buckets.ready(peer)
            and self._asked.may_ask(peer, group)
        ):
            self._spawn(self._ask(peer, group, reply=False))

    def push(self, before: GroupState | None, after: GroupView) -> None:
        """This user changed a group: its log goes to every member of the new state, and to
        members of the state before who are not in it any more (removed: they learn it)."""
        me = self._session.user
        keys: dict[str, bytes] = dict(before.member_keys) if before is not None else {}
        keys.update(after.head.member_keys)
        for name, key in keys.items():
            if name != me:
                self._spawn(self._send_changes(name, key, after))

    def have_received(self, peer: str, have: GroupHave) -> None:
        """``peer`` says how far it is: answer in the background (the transport's reader must
        not wait for our sends, whose answers it reads), one answer at a time."""
        key = (peer, have.group)
        if key in self._answering:
            waiting = self._answering[key]
            reply = have.reply and (waiting is None or waiting.reply)
            self._answering[key] = GroupHave(
                have.group, have.version, have.head, have.authors, reply
            )
            return
        if not self._buckets.ready(peer):
            # Any answer would need a token: without one, nothing is looked up or computed.
            log.debug("a have of %s from %s not answered: it asked too much", have.group, peer)
            return
        self._answering[key] = None
        task = self._spawn(self._answer_all(peer, have))
        if task is None:
            del self._answering[key]
        else:
            task.add_done_callback(lambda _: self._answered(key))

    def _answered(self, key: tuple[str, UUID]) -> None:
        """An answer is over (or was cancelled before it began): a have that came meanwhile
        is answered next."""
        waiting = self._answering.pop(key, None)
        if waiting is not None:
            self.have_received(key[0], waiting)

    async def idle(self) -> None:
        """Wait until no sync send is under way (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop every sync send under way."""
        for task in list(self._tasks):
            task.cancel()
        await self.idle()

    # --- sends -------------------------------------------------------------------------------

    async def _greet(self, me: str, joined: frozenset[str]) -> None:
        """Our have of every group we share with each newcomer: one task per newcomer, which
        finds it once and goes through the groups in turn (a sign-in may name hundreds)."""
        shared: dict[str, list[UUID]] = {}
        for state, left in await self._book.mine():
            if not left:
                for name in joined & set(state.names):
                    shared.setdefault(name, []).append(state.id)
        for name in sorted(shared):
            self._spawn(self._greet_one(me, name, shared[name]))

    async def _greet_one(self, me: str, peer: str, groups: list[UUID]) -> None:
        """Our have of each of ``groups`` to ``peer``, if it is a member with the key the group
        gives it: one lookup per key the groups give it (one, unless an admin erred)."""
        by_key: dict[bytes, list[GroupView]] = {}
        for group in groups:
            view = await self._book.view(group)
            key = view.head.key_of(peer) if view is not None else None
            mine = view is not None and view.head.is_member(me)
            if view is not None and key is not None and mine and self._asked.may_ask(peer, group):
                by_key.setdefault(key, []).append(view)
        for key, views in by_key.items():
            if not self._buckets.take(peer):
                log.info("%s is not greeted in %d group(s): it asked too much", peer, len(views))
                return
            location = await self._reach.reach(peer, key)
            if location is None:
                continue
            for view in views:
                have = await our_have(self._progress, view.id, view, with_authors=True, reply=False)
                await self._transport.send_have(peer, location, have)

    async def _ask(self, peer: str, group: UUID, *, reply: bool) -> None:
        """Our have of ``group`` to ``peer``. A member of the group as we know it is reached
        with the key the log gives it, and told how far each author is if we are a member too;
        anybody else (the group is not known here, or the peer says it is further than our
        log: it may have been added by a change we lack) only if pinned already, and only told
        our head, never who posted what."""
        view = await self._book.view(group)
        me = self._session.user
        key = view.head.key_of(peer) if view is not None else None
        if not self._buckets.take(peer):
            log.info("not asking %s about group %s now: it asked too much", peer, group)
            return
        location = await self._reach.reach(peer, key)
        if location is None:
            return
        serving = (
            key is not None and view is not None and me is not None and view.head.is_member(me)
        )
        have = await our_have(self._progress, group, view, with_authors=serving, reply=reply)
        await self._transport.send_have(peer, location, have)

    async def _send_changes(self, peer: str, key: bytes, view: GroupView) -> None:
        location = await self._reach.reach(peer, key)
        if location is not None:
            await self._transport.send_changes(peer, location, view.changes)

    # --- answers -----------------------------------------------------------------------------

    async def _answer_all(self, peer: str, have: GroupHave) -> None:
        """Answer ``have``, then the haves that came meanwhile (folded into the newest). What
        this round already handed over counts as the peer's: a have it sent before our answer
        arrived must not make us send the same messages or changes again."""
        key = (peer, have.group)
        handed = Handed()
        next_have: GroupHave | None = have
        while next_have is not None:
            await self._answer(peer, next_have, handed)
            next_have = self._answering.get(key)  # what came meanwhile, folded into one
            self._answering[key] = None

    async def _answer(self, peer: str, have: GroupHave, handed: Handed) -> None:
        me = self._session.user
        if me is None:
            return
        view = await self._book.view(have.group)
        if view is not None:
            await self._answers.answer(me, peer, have, view, handed)
            if self._deferred is not None:
                # What it lacked is on its way (or it lacked nothing): what it deferred of ours
                # for want of it may go again (the courier paces these tries).
                self._deferred.retry_group(peer)
            # Somebody not in the group as we know it who says it is further: ask it.
            further = have.version > view.head.version and not view.head.is_member(peer)
        else:
            further = not self._book.declined(have.group)  # added while away? ask for the log
        if further and not have.reply and self._asked.may_ask(peer, have.group):
            await self._ask(peer, have.group, reply=True)

    # --- inside ------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """Run ``work`` in the background, bounded; None (and dropped) past the bound."""
        if len(self._tasks) >= self._settings.max_tasks:
            work.close()
            log.warning("too many group syncs under way: one dropped (the next trigger redoes it)")
            return None
        task = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: work.close())  # cancelled before it began: no warning
        return task

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._settings.concurrency)
        try:
            async with self._slots:
                await work
        except ChatError as exc:
            log.info("a group sync failed (tried again at the next trigger): %s", exc)
        except Exception:
            log.exception("a group sync failed unexpectedly")
