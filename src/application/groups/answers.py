"""The answer to a peer's have of a group we know: what it lacks, decided before anything is
looked up or sent.

- A peer the group's log never listed gets nothing (and costs nothing).
- A member gets our changes when the heads differ. A former member gets the chain up to its
  departure, when its head is not that change: it learns it was removed (and the messages
  sent to it while it was a member settle: it refuses them), and nothing of what came after.
- A member gets, if we are a member too, the messages it lacks: each author's in order, in
  batches, until :attr:`SyncSettings.budget` of them were *taken* (a batch it defers or refuses
  does not count, and ends that author's turn). Only a round that handed over a whole budget
  goes on: our own have asks the peer to say again how far it is.
- A member whose have was not a reply gets our have (a reply) when it holds something we lack.

Deciding costs no lookup: a member in step costs nothing. Anything to send costs one token of
the peer's bucket, and going on past the budget one more (so a peer taking a trickle, or
none, cannot keep us sending rounds).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.application.groups.pace import PeerBuckets, SyncSettings
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.groups.reach import PeerReach, log_key
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.peer_transport import GroupHave, PeerTransport
from chinwag.domain.group import HASH_SIZE, Change
from chinwag.domain.group_message import within_cut

log = logging.getLogger(__name__)

NO_HEAD = bytes(HASH_SIZE)
"""The head of a group this client knows nothing of, in its have (no change hashes to it)."""


async def our_have(
    progress: GroupProgress,
    group: UUID,
    view: GroupView | None,
    *,
    with_authors: bool,
    reply: bool,
) -> GroupHave:
    """How far this client is in ``group`` (``with_authors``: how far each author is too,
    which only a member tells a member)."""
    if view is None:
        return GroupHave(group, 0, NO_HEAD, {}, reply)
    authors = dict(await progress.of(group)) if with_authors else {}
    return GroupHave(group, view.head.version, view.head.head, authors, reply)


@dataclass
class Handed:
    """What one round of answers to a peer already handed over in a group: the head whose
    changes were sent, and per author the last message acknowledged."""

    head: bytes | None = None
    messages: dict[str, int] = field(default_factory=dict)


class HaveAnswers:
    """Answers haves of groups known here (see the module's text)."""

    def __init__(
        self,
        progress: GroupProgress,
        messages: MessageRepository,
        transport: PeerTransport,
        reach: PeerReach,
        buckets: PeerBuckets,
        settings: SyncSettings,
    ) -> None:
        self._progress = progress
        self._messages = messages
        self._transport = transport
        self._reach = reach
        self._buckets = buckets
        self._settings = settings

    async def answer(
        self, me: str, peer: str, have: GroupHave, view: GroupView, handed: Handed
    ) -> None:
        """Answer ``peer``'s ``have`` of ``view``'s group (this user is ``me``); ``handed``:
        what this round gave it already, updated."""
        key = log_key(view, peer)
        if key is None:
            return  # never a member: not even looked up
        head = view.head
        member = head.is_member(peer)
        serving = member and head.is_member(me)
        ours: Mapping[str, int] = dict(await self._progress.of(have.group))
        log_part, target = (view.changes, head.head) if member else _until_departure(view, peer)
        changes = have.head != target and handed.head != target
        behind = serving and any(
            last > max(have.authors.get(author, 0), handed.messages.get(author, 0))
            for author, last in ours.items()
        )
        lacking = member and not have.reply and _lacking(have, view, ours, serving=serving)
        if not (changes or behind or lacking):
            return
        if not self._buckets.take(peer):
            log.info("no answer to %s about group %s now: it asked too much", peer, have.group)
            return
        location = await self._reach.reach(peer, key)
        if location is None:
            return
        if changes:
            await self._transport.send_changes(peer, location, log_part)
            handed.head = target
        more = behind and await self._forward(peer, location, have, ours, view.chain, handed)
        if more and not self._buckets.take(peer):
            log.info("%s's catch-up in group %s goes on at the next trigger", peer, have.group)
        elif more:
            # A whole budget was taken: our have (not a reply) makes the peer say again how far
            # it is now, and the next answer goes on from there (and it answers what we lack).
            mine = await our_have(self._progress, have.group, view, with_authors=True, reply=False)
            await self._transport.send_have(peer, location, mine)
        elif lacking:
            mine = await our_have(
                self._progress, have.group, view, with_authors=serving, reply=True
            )
            await self._transport.send_have(peer, location, mine)

    async def _forward(
        self,
        peer: str,
        location: PeerLocation,
        have: GroupHave,
        ours: Mapping[str, int],
        chain: Sequence[Change],
        handed: Handed,
    ) -> bool:
        """Hand ``peer`` the messages it lacks, each author's in order; whether it took a whole
        budget of them (and more remain). Only messages taken count: a batch deferred or
        refused ends that author's turn and costs nothing of the budget, so a peer that takes
        nothing ends the round after one batch per author. Messages past their author's
        departure cut (stored here before the removal was known) are not handed on: no member
        would take them."""
        budget = self._settings.budget
        for author, last in ours.items():
            after = max(have.authors.get(author, 0), handed.messages.get(author, 0))
            while after < last:
                if budget <= 0:
                    return True
                limit = min(self._settings.batch, budget)
                stored = await self._messages.group_messages(have.group, author, after, limit)
                batch = list(itertools.takewhile(lambda m: within_cut(chain, m), stored))
                if not batch:
                    break
                report = await self._transport.deliver(peer, location, batch)
                taken = 0
                for message in batch:
                    if message.id not in report.acknowledged:
                        break
                    taken += 1
                budget -= taken
                if taken:
                    stamp = batch[taken - 1].stamp
                    after = stamp.seq if stamp is not None else last
                    handed.messages[author] = after
                if taken < len(batch):
                    why = report.deferred.get(batch[taken].id) or report.rejected.get(
                        batch[taken].id, "not acknowledged"
                    )
                    log.info("%s did not take %s's messages of group %s (%s)", peer, author,
                             have.group, why)  # fmt: skip
                    break
                if len(batch) < len(stored):
                    break  # the rest is past the author's departure
        return False


def _lacking(have: GroupHave, view: GroupView, ours: Mapping[str, int], *, serving: bool) -> bool:
    """Whether ``have`` shows something we lack: a later version, or (between members) another
    head or an author further than here."""
    if have.version > view.head.version:
        return True
    return serving and (
        have.head != view.head.head
        or any(seq > ours.get(author, 0) for author, seq in have.authors.items())
    )


def _until_departure(view: GroupView, peer: str) -> tuple[Sequence[Change], bytes]:
    """The part of ``view``'s chain a former member is given: up to its last departure (its
    removal, or its leaving), and that change's hash (its head once it has them). What the
    group did after it left (its new members, their keys, its new name) is not its business."""
    for version in range(len(view.states) - 1, 0, -1):
        if view.states[version - 1].is_member(peer) and not view.states[version].is_member(peer):
            return view.chain[: version + 1], view.chain[version].hash()
    raise AssertionError(f"{peer} was never a member of group {view.id}, or still is")
