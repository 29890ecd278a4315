"""The desktop app's preferences, kept in a small private JSON file in the user's folder.

``{"version": 1, "notifications": true}``: written atomically and 0600 like the user's other
files (:mod:`chinwag.adapters.files`), never through a link. A missing file means the defaults;
a damaged one is reported once in the log and replaced by the next change, never a reason to
refuse signing in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from chinwag.adapters.files import read_private, read_versioned_json, write_private

log = logging.getLogger(__name__)

PREFERENCES_FILE = "preferences.json"
VERSION = 1
MAX_SIZE = 4096


@dataclass(frozen=True)
class Preferences:
    notifications: bool = True
    """Desktop notifications for messages that arrive while the window is in the background."""


class DamagedPreferences(ValueError):
    pass


class JsonPreferences:
    """The preferences file of one user: ``folder / preferences.json``."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PREFERENCES_FILE

    def load(self) -> Preferences:
        try:
            data = read_private(self.path)
        except FileNotFoundError:
            return Preferences()
        except OSError as exc:
            log.warning("cannot read %s (%s); using the default preferences", self.path, exc)
            return Preferences()
        try:
            document = read_versioned_json(
                data,
                version=VERSION,
                max_size=MAX_SIZE,
                damaged=lambda why: DamagedPreferences(f"{self.path} is damaged: {why}"),
            )
        except DamagedPreferences as exc:
            log.warning("%s; using the default preferences", exc)
            return Preferences()
        notifications = document.get("notifications", True)
        return Preferences(notifications=notifications if isinstance(notifications, bool) else True)

    def save(self, preferences: Preferences) -> None:
        document = {"version": VERSION, "notifications": preferences.notifications}
        write_private(self.path, json.dumps(document).encode("utf-8") + b"\n")
