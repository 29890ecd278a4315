"""Who may bind a name to a key: the first key wins for good, a name that reads like a bound one
(or like a Latin name, in another script) is refused, and one connection may try only a few
names. The store says what is bound; these judge it (from admission.py and registrar.py)."""

from __future__ import annotations

from collections.abc import Collection

from chinwag.domain.registry.refusals import Refusal, RefusalCode
from chinwag.domain.user import poses_as_latin, username_skeleton

MAX_NAMES_PER_CONNECTION = 4
"""Different names one connection may register in its life (a client uses one)."""


def judge_new_name(name: str, lookalike: str | None) -> Refusal | None:
    """Why ``name`` (bound to nobody) may not be bound now, given ``lookalike``, the bound name
    with the same skeleton the store found (None: none), or None if it may."""
    if lookalike is not None and lookalike != name:
        return Refusal(
            RefusalCode.NAME_TAKEN, f"{name} looks like {lookalike}, which is registered"
        )
    if poses_as_latin(name):
        return Refusal(
            RefusalCode.NAME_TAKEN, f"{name} looks like the Latin name {username_skeleton(name)}"
        )
    return None


def judge_bound(name: str, key: bytes, bound: bytes | None) -> Refusal | None:
    """Why ``key`` may not register ``name``, bound to ``bound`` (None: to nobody yet, which is
    for :func:`judge_new_name` to judge), or None: it is ``key``'s own."""
    if bound is not None and bound != key:
        return Refusal(RefusalCode.NAME_TAKEN, f"{name} is registered to another key")
    return None


def judge_claim(
    name: str, key: bytes, bound: bytes | None, claimed: Collection[str]
) -> Refusal | None:
    """Why a connection that tried the names ``claimed`` may not try ``name`` as well: it may
    sign in again with a name of its own key, or with one it tried already, but try at most
    :data:`MAX_NAMES_PER_CONNECTION` different ones (each may cost a durable write)."""
    if bound != key and name not in claimed and len(claimed) >= MAX_NAMES_PER_CONNECTION:
        return Refusal(RefusalCode.RATE_LIMITED, "too many names from one connection")
    return None
