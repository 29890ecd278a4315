"""The files chinwag keeps in a user's folder are never a place to write a file the person
asked for: a backup or an export written there would replace the identity key, the history or
another file of ours (or sit where only chinwag writes). ``chinwag-cli backup`` and ``export``
and the desktop app's Back up… and Export conversation… all refuse it with this one check.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from chinwag.adapters.backup.folder import UserFiles


def refuse_our_files(
    target: Path,
    folder: Path,
    user: str,
    files: UserFiles,
    *,
    writing: str,
    refused: Callable[[str], Exception],
) -> None:
    """Raise ``refused(sentence)`` if ``target`` is inside ``user``'s ``folder`` or another
    user's folder beside it; ``writing`` names what would be written (``"the backup"``). Links
    are followed, so no other spelling gets past."""
    real = Path(os.path.realpath(target))
    own = Path(os.path.realpath(folder))
    if own in real.parents:
        whose = f"{user}'s"
    elif _is_user_folder(real.parent, files) and (
        real.name in files.ours or real.parent.parent == own.parent
    ):
        whose = "a user's"  # another user's, or one in another data folder
    else:
        return
    if real.name in files.ours:
        said = f"is one of chinwag's own files, in {whose} folder {real.parent}"
        harm = f"writing {writing} over it would destroy it"
    else:
        said = f"is inside {whose} folder {real.parent}"
        harm = "only chinwag writes there"
    raise refused(
        f"{target} {said}; {harm}: choose a file outside that folder (nothing was written)"
    )


def _is_user_folder(folder: Path, files: UserFiles) -> bool:
    """Whether ``folder`` is a user's, as the files chinwag keeps in it say."""
    return any(os.path.lexists(folder / kept) for kept in (files.keys, files.database))
