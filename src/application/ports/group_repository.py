from collections.abc import Collection, Sequence
from typing import Protocol
from uuid import UUID

from chinwag.domain.group import Change


class GroupRepository(Protocol):
    """Every change of every group this client has learnt, kept as it was signed.

    Not the chain: the canonical chain depends on the whole *set* of changes known
    (:func:`chinwag.domain.group_log.canonical`), so the repository keeps all of them, orphans
    and changes that do not apply included, and the chain is recomputed from them. Changes are
    not checked here (no signatures, no rules): only stored once each, by :meth:`Change.hash`.
    The application may let changes off the chain go (:meth:`remove_changes`): the chain over
    what is left is the same.
    """

    async def add_changes(self, changes: Sequence[Change]) -> list[Change]:
        """Store each change not stored yet, keyed by its hash, in one transaction; the ones
        that were new, once each, in the order given. Committed before this returns."""
        ...

    async def changes(self, group: UUID) -> list[Change]:
        """Every change stored for ``group``, in the order they were stored (empty if none);
        each exactly as it was signed. A stored change that no longer matches its hash (a
        damaged or edited file) is left out: a peer can send the genuine one again."""
        ...

    async def remove_changes(self, group: UUID, hashes: Collection[bytes]) -> int:
        """Forget the changes of ``group`` stored under ``hashes`` (a hash of another group's
        change, or of none, is passed over), in one transaction; how many were forgotten.
        Committed before this returns. What is let go can be stored again later."""
        ...

    async def groups(self) -> list[UUID]:
        """The groups with at least one change stored, in the order their first change was."""
        ...
