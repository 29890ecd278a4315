"""Group chat in the application: the groups known and their states (:class:`GroupBook`), the
keys members are added with (:class:`MemberKeys`), the receive path of group messages
(:class:`GroupIntake`), the authors' progress (:class:`GroupProgress`) and the sync that fills
history in (:class:`GroupSync`). The use cases are ``Groups`` and ``PostToGroup``."""

from chinwag.application.groups.book import GroupBook, Taken
from chinwag.application.groups.joining import TooManyGroups
from chinwag.application.groups.keys import MemberKeys
from chinwag.application.groups.limits import MAX_GROUPS_PER_USER
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.groups.receive import GroupIntake
from chinwag.application.groups.sync import GroupSync, LastLocations, SyncSettings
from chinwag.application.groups.view import GroupView

__all__ = [
    "MAX_GROUPS_PER_USER",
    "GroupBook",
    "GroupIntake",
    "GroupProgress",
    "GroupSync",
    "GroupView",
    "LastLocations",
    "MemberKeys",
    "SyncSettings",
    "Taken",
    "TooManyGroups",
]
