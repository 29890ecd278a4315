"""History that fills itself in: members tell each other how far they are in a group
(``group_have``) and hand over what the other lacks, changes and messages, whoever wrote them.

When (each bounded; a failure is logged and left to the next trigger, never raised to the user):

- a member of a group this user is in comes online (presence; the first list after signing in
  names everybody online, so signing in syncs with every online member): our have, at most once
  per :data:`SYNC_INTERVAL` per peer and group;
- a message from a peer had to wait (``unknown_group``, ``group_behind``, ``group_gap``), or
  changes from it follow one not known here: our have to that peer, as rate-limited;
- this user changed a group: the whole log goes to every member of the new state and to a
  member who was removed (so it learns it), without waiting.

A have is answered (one answer at a time per peer and group; later haves are folded into the
next answer): with our changes when the heads differ, with the messages the peer lacks (each
author's in order, in batches, at most :data:`FORWARD_BUDGET` per answer: past it, our own have
asks for the next round), and, unless the have was itself a reply, with our have when we lack
something the peer has. Only a peer that is a member of the group as we know it, holding the
key the group says, is given anything; everybody else may only make us ask.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from chinwag.application.errors import (
    ChatError,
    IdentityChanged,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.limits import (
    FORWARD_BATCH,
    FORWARD_BUDGET,
    MAX_RATE_ENTRIES,
    MAX_SYNC_TASKS,
    SYNC_CONCURRENCY,
    SYNC_INTERVAL,
)
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.directory import Directory, PeerLocation, RegistryStatus
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import GroupHave, PeerTransport
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.group import HASH_SIZE, Change
from chinwag.domain.group_log import GroupState
from chinwag.domain.group_message import departure_cut
from chinwag.domain.message import Message

log = logging.getLogger(__name__)

NO_HEAD = bytes(HASH_SIZE)
"""The head of a group this client knows nothing of, in its have (no change hashes to it)."""


class LastLocations(Protocol):
    """Where a peer was last found, with its pinned key (the courier remembers it): what a
    sync send uses while the registry is out of reach."""

    async def last_location(self, name: str) -> PeerLocation | None: ...


@dataclass(frozen=True)
class SyncSettings:
    interval: float = SYNC_INTERVAL
    batch: int = FORWARD_BATCH
    budget: int = FORWARD_BUDGET
    max_tasks: int = MAX_SYNC_TASKS
    concurrency: int = SYNC_CONCURRENCY


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
    ) -> None:
        self._session = session
        self._book = book
        self._progress = progress
        self._messages = messages
        self._transport = transport
        self._directory = directory
        self._trust = trust
        self._locations = locations
        self._clock = clock
        self._settings = settings or SyncSettings()
        self._online: frozenset[str] = frozenset()
        self._asked: OrderedDict[tuple[str, UUID], float] = OrderedDict()
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
        """Ask ``peer`` for what we lack of ``group`` (at most once per interval)."""
        if peer != self._session.user and self._may_ask(peer, group):
            self._spawn(self._send_have(peer, group, reply=False))

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
            self._spawn(self._greet_one(name, shared[name]))

    async def _greet_one(self, peer: str, groups: list[UUID]) -> None:
        wanted = [group for group in groups if self._may_ask(peer, group)]
        location = await self._reach(peer, None) if wanted else None
        if location is None:
            return
        for group in wanted:
            view = await self._book.view(group)
            if view is None or view.head.key_of(peer) != location.key:
                continue  # not a member any more, or not with the key the group says
            have = await self._have(group, view, with_authors=True, reply=False)
            await self._transport.send_have(peer, location, have)

    async def _send_have(self, peer: str, group: UUID, *, reply: bool) -> None:
        view = await self._book.view(group)
        me = self._session.user
        serving = (
            view is not None
            and me is not None
            and view.head.is_member(me)
            and view.head.is_member(peer)
        )
        expected = view.head.key_of(peer) if view is not None and serving else None
        location = await self._reach(peer, expected)
        if location is None:
            return
        have = await self._have(group, view, with_authors=serving, reply=reply)
        await self._transport.send_have(peer, location, have)

    async def _send_changes(self, peer: str, key: bytes, view: GroupView) -> None:
        location = await self._reach(peer, key)
        if location is not None:
            await self._transport.send_changes(peer, location, view.changes)

    async def _have(
        self, group: UUID, view: GroupView | None, *, with_authors: bool, reply: bool
    ) -> GroupHave:
        if view is None:
            return GroupHave(group, 0, NO_HEAD, {}, reply)
        authors = dict(await self._progress.of(group)) if with_authors else {}
        return GroupHave(group, view.head.version, view.head.head, authors, reply)

    # --- answers -----------------------------------------------------------------------------

    async def _answer_all(self, peer: str, have: GroupHave) -> None:
        """Answer ``have``, then the haves that came meanwhile (folded into the newest). What
        this round already handed over counts as the peer's: a have it sent before our answer
        arrived must not make us send the same messages or changes again."""
        key = (peer, have.group)
        handed = _Handed()
        next_have: GroupHave | None = have
        while next_have is not None:
            await self._answer(peer, next_have, handed)
            next_have = self._answering.get(key)  # what came meanwhile, folded into one
            self._answering[key] = None

    async def _answer(self, peer: str, have: GroupHave, handed: _Handed) -> None:
        me = self._session.user
        if me is None:
            return
        view = await self._book.view(have.group)
        if view is None:
            # A group we do not know (added while away?): ask for its log, unless declined.
            if not (have.reply or self._book.declined(have.group)) and self._may_ask(
                peer, have.group
            ):
                await self._send_have(peer, have.group, reply=True)
            return
        head = view.head
        serving = head.is_member(me) and head.is_member(peer)
        location = await self._reach(peer, head.key_of(peer) if serving else None)
        if location is None:
            return
        more = False
        if serving:
            if have.head != head.head and handed.head != head.head:
                await self._transport.send_changes(peer, location, view.changes)
                handed.head = head.head
            more = await self._forward(peer, location, have, view.chain, handed.messages)
        ours = await self._progress.of(have.group)
        lacking = have.version > head.version or (
            serving
            and (
                have.head != head.head
                or any(seq > ours.get(author, 0) for author, seq in have.authors.items())
            )
        )
        if more:
            # The budget ran out: our have (not a reply) makes the peer say again how far it is
            # now, and the next answer goes on from there (and it answers what we lack).
            mine = await self._have(have.group, view, with_authors=True, reply=False)
            await self._transport.send_have(peer, location, mine)
        elif lacking and not have.reply and (serving or self._may_ask(peer, have.group)):
            mine = await self._have(have.group, view, with_authors=serving, reply=True)
            await self._transport.send_have(peer, location, mine)

    async def _forward(
        self,
        peer: str,
        location: PeerLocation,
        have: GroupHave,
        chain: Sequence[Change],
        handed: dict[str, int],
    ) -> bool:
        """Hand ``peer`` the messages it lacks, each author's in order; whether more remain
        than the budget allowed. Messages past their author's departure cut (stored here before
        the removal was known) are not handed on: no member would take them."""
        budget = self._settings.budget
        ours: Mapping[str, int] = dict(await self._progress.of(have.group))
        for author, last in ours.items():
            after = max(have.authors.get(author, 0), handed.get(author, 0))
            while after < last:
                if budget <= 0:
                    return True
                limit = min(self._settings.batch, budget)
                stored = await self._messages.group_messages(have.group, author, after, limit)
                batch = list(itertools.takewhile(lambda m: _counts(chain, m), stored))
                if not batch:
                    break
                budget -= len(batch)
                report = await self._transport.deliver(peer, location, batch)
                taken = 0
                for message in batch:
                    if message.id not in report.acknowledged:
                        break
                    taken += 1
                if taken < len(batch):
                    why = report.deferred.get(batch[taken].id) or report.rejected.get(
                        batch[taken].id, "not acknowledged"
                    )
                    log.info("%s did not take %s's messages of group %s (%s)", peer, author,
                             have.group, why)  # fmt: skip
                    break
                if len(batch) < len(stored):
                    break  # the rest is past the author's departure
                stamp = batch[-1].stamp
                after = stamp.seq if stamp is not None else last
                handed[author] = after
        return False

    # --- inside ------------------------------------------------------------------------------

    async def _reach(self, peer: str, expected: bytes | None) -> PeerLocation | None:
        """Where ``peer`` is, checked as the courier checks a recipient (the registry's key,
        pinned or matching the pin; the last location while the registry is away), and, when
        the group names a key for the peer, holding that key; None when it cannot be reached
        now (the next trigger tries again)."""
        try:
            location = await self._directory.lookup(peer)
            if await self._trust.pinned_key(peer) != location.key:
                # A first contact is pinned; another key is a key change (held, user told).
                # A contact holding its pin is left as it is: a sync answers no message request.
                await self._trust.outgoing(peer, location.key)
        except RegistryUnavailable:
            found = await self._locations.last_location(peer)
            if found is None:
                log.debug("no sync with %s: the registry is away and it was not seen", peer)
                return None
            location = found
        except (UserOffline, UnknownUser, IdentityChanged) as exc:
            log.debug("no sync with %s now: %s", peer, exc)
            return None
        if expected is not None and location.key != expected:
            log.warning("no sync with %s: it holds another key than the group says", peer)
            return None
        return location

    def _may_ask(self, peer: str, group: UUID) -> bool:
        """Whether a request to ``peer`` about ``group`` may go now (rate limit)."""
        now = self._clock.now().timestamp()
        key = (peer, group)
        last = self._asked.get(key)
        if last is not None and now - last < self._settings.interval:
            return False
        self._asked[key] = now
        self._asked.move_to_end(key)
        while len(self._asked) > MAX_RATE_ENTRIES:
            self._asked.popitem(last=False)
        return True

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


def _counts(chain: Sequence[Change], message: Message) -> bool:
    """Whether ``message`` is within its author's departure cut (if the chain has one)."""
    assert message.stamp is not None
    cut = departure_cut(chain, message.stamp.version, message.sender)
    return cut is None or message.stamp.seq <= cut


@dataclass
class _Handed:
    """What one round of answers to a peer already handed over in a group: the head whose
    changes were sent, and per author the last message acknowledged."""

    head: bytes | None = None
    messages: dict[str, int] = field(default_factory=dict)
