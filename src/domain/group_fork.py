"""The fork choice: which branch of a group's log is its chain.

Changes form a tree (each names the change it follows), and every member must pick the same
path through it from the same set of changes, whatever order it learnt them in.

**The rule.** A change *weighs* 1 when its author is an admin of the state it follows, 0
otherwise (a member who is no admin can write only one kind of change: their own ``leave``).
A valid change's *reach* is its weight plus the greatest reach among the valid changes that
follow it: the most admins' changes on one valid path down from it. From the create, the
chain takes, among the valid changes that follow its head, the one with the greatest reach;
among equal reaches, the one with the smallest hash; until no valid change follows.

**Why.** The rule it replaces took the smallest hash at every fork. Any member may leave, and
may sign a leave that follows an *old* change (version 1, say), where it is valid: she was a
member then. With a smaller hash than the real version 2 (half the time; she can grind for
it), her leave won and orphaned every later change: adds, removes, renames undone at once.
Now history is measured in admins' changes, and a member's leave weighs nothing:

- A leave forked from the past reaches 0; the real history after its fork point reaches as
  many admins' changes as were made since. It loses as soon as one was.
- Members colluding, each leaving in turn on top of the others, build a branch of any depth
  that still reaches 0: nothing an admin did is undone, however many they are. (A rule
  counting depth instead, "the longest chain", lets k of them undo k - 1 admins' changes.)
- A leave forked at the head's parent ties nothing an admin wrote there (1 against 0).
- Two admins changing the group at once, on the same head, tie at 1: the smallest hash
  decides, as before, and the losing change's author writes it again on top of the winner
  (the application does). Whichever branch then gets more admins' changes on top wins.
- Two leaves forked at the same change tie at 0 when nothing an admin did follows either:
  the smallest hash decides, and the other leave's author writes it again on top. So a member
  can put off another member's leave (until its client writes it again), never an admin's
  change, and only while the leave is newer than every admin's change.

**What it does not close.** A *former* admin (removed, or gone) still holds signatures that
were valid on the states where she was an admin, and can write new admin changes on them:
her branch wins if it holds more admins' changes than the group made since her fork point
(with the old rule one ground hash was enough). And an admin writing offline on an old head
for long, or a late-arriving branch of honest admins, wins over a lighter history: what the
others did is then written again on top by their clients. Neither can be closed by a rule
over the set of changes alone (it would need members to vouch for the heads they saw).
"""

from __future__ import annotations

from collections.abc import Set

from chinwag.domain.group import Change, ChangeKind


def weight(change: Change, admins: Set[str]) -> int:
    """What ``change`` counts for in its branch's reach, given the ``admins`` of the state it
    follows: 1 if its author is one of them, 0 for a leave by a member who is not."""
    return 0 if change.kind is ChangeKind.LEAVE and change.author not in admins else 1


def rank(reach: int, digest: bytes) -> tuple[int, bytes]:
    """The order of the valid changes following one change: the smallest rank is the chain's
    (the greatest ``reach``, then the smallest hash ``digest``)."""
    return -reach, digest
