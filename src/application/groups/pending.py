"""Logs of groups not known here, held in memory until they make this user a member.

A log can arrive over several frames before the change that adds this user does, so what came
first must wait somewhere; but anybody who is signed in can send changes of groups nobody
knows. So what waits is bounded and cheap to judge: per group, only the one create whose
content derives the group's id and whose creator's signature verifies, then only valid
changes on it (:func:`~chinwag.application.groups.growth.grow`: in parent order, each checked
once; the chain, and at most :data:`~chinwag.application.groups.branches.MAX_BRANCHES` off it);
in all, at most :data:`MAX_PENDING_GROUPS` groups and :data:`MAX_PENDING_BYTES`, the least
recently fed dropped first (the peer that wants us in sends it again).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from chinwag.application.groups.growth import Settled, grow
from chinwag.application.groups.limits import (
    MAX_CREATE_TRIES,
    MAX_PENDING_BYTES,
    MAX_PENDING_CHANGES,
    MAX_PENDING_GROUPS,
    MAX_SETTLED,
)
from chinwag.application.groups.view import MAX_STORED_OFF_CHAIN, GroupView, Verify
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, genesis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Held:
    view: GroupView
    logged: int
    """What the changes taken on the chain cost (see :func:`cost`)."""
    weight: int
    """What all of it costs: those, and the branches off the chain held."""


def cost(change: Change, state: GroupState) -> int:
    """What holding ``change`` costs, roughly in bytes: its signed form, and its state's
    member list (a reference per member, shared with the state before)."""
    return len(change.signed_bytes()) + len(change.signature) + 16 * len(state.members)


class PendingGroups:
    """The bounded, in-memory logs of groups not known here (see the module's text)."""

    def __init__(self, verify: Verify, settled: Settled | None = None) -> None:
        self._verify = verify
        self._settled = settled if settled is not None else Settled(MAX_SETTLED)
        self._held: OrderedDict[UUID, _Held] = OrderedDict()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._held)

    @property
    def weight(self) -> int:
        """What all held logs cost (see :func:`cost`)."""
        return self._weight

    def feed(self, group: UUID, batch: Sequence[Change]) -> tuple[GroupView | None, bool]:
        """``group``'s log as held with ``batch`` (None while no valid create of it came), and
        whether some changes follow one not known (the peer has more). The caller takes the
        view (:meth:`drop`) once it makes the user a member; it is held until then."""
        held = self._held.pop(group, None)
        if held is not None:
            self._weight -= held.weight
        else:
            held = self._start(group, batch)
            if held is None:
                return None, False
        room = MAX_PENDING_CHANGES - len(held.view.chain)  # the chain's (as the book's)
        growth = grow(held.view, batch, self._verify, room=room, settled=self._settled)
        self._settled.update(growth.dropped)
        if growth.cut:
            log.info("group %s (not known): %d changes past the most held for it (taken only "
                     "if it is joined meanwhile)", group, growth.cut)  # fmt: skip
        view = growth.view
        if view.off_chain > MAX_STORED_OFF_CHAIN:
            view, _ = view.pruned()  # as the book lets them go (they stay held as branches)
            logged = sum(cost(c, state) for c, state in zip(view.chain, view.states, strict=True))
        else:
            logged = held.logged + sum(cost(c, view.states[c.version]) for c in growth.kept)
        branches = sum(cost(b.change, b.state) for b in view.side.values())
        held = _Held(view, logged, logged + branches)
        self._held[group] = held
        self._weight += held.weight
        self._bound()
        return view, growth.loose

    def drop(self, group: UUID) -> None:
        """Forget ``group``'s log (taken, or declined)."""
        held = self._held.pop(group, None)
        if held is not None:
            self._weight -= held.weight

    def _start(self, group: UUID, batch: Sequence[Change]) -> _Held | None:
        """The log of ``group`` from the valid create in ``batch``, if there is one. Its id must
        derive from its content (a create cannot claim another group's id) and its creator's
        signature verify; a few creates are tried per batch, no more (only one can be valid)."""
        tried = 0
        for change in batch:
            if change.kind is not ChangeKind.CREATE or change.group != group:
                continue
            if tried >= MAX_CREATE_TRIES:
                log.warning("group %s: more creates than tried in one batch", group)
                return None
            tried += 1
            try:
                state = genesis(change, self._verify)  # the id's derivation first, then the key
            except DomainError:
                continue
            started = cost(change, state)
            return _Held(GroupView.started(change, state), started, started)
        return None

    def _bound(self) -> None:
        while self._held and (
            len(self._held) > MAX_PENDING_GROUPS or self._weight > MAX_PENDING_BYTES
        ):
            group, held = self._held.popitem(last=False)
            self._weight -= held.weight
            log.info("group %s (not known) dropped from memory: too much held", group)
