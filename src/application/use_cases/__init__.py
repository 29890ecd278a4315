"""One use case per module, each with one public method ``execute`` (``Groups`` has one per
membership change, sharing their checks)."""

from chinwag.application.use_cases.accept_file import AcceptFile
from chinwag.application.use_cases.cancel_file import CancelFile
from chinwag.application.use_cases.count_unread import CountUnread
from chinwag.application.use_cases.decline_file import DeclineFile
from chinwag.application.use_cases.find_online import FindOnline
from chinwag.application.use_cases.groups import Groups
from chinwag.application.use_cases.list_contacts import ListContacts
from chinwag.application.use_cases.list_conversations import ListConversations
from chinwag.application.use_cases.list_transfers import ListTransfers
from chinwag.application.use_cases.load_history import LoadHistory
from chinwag.application.use_cases.mark_read import MarkRead
from chinwag.application.use_cases.post_to_group import PostToGroup
from chinwag.application.use_cases.receive_messages import ReceiveMessages
from chinwag.application.use_cases.search_history import SearchHistory
from chinwag.application.use_cases.send_file import SendFile
from chinwag.application.use_cases.send_message import SendMessage
from chinwag.application.use_cases.send_messages import SendMessages
from chinwag.application.use_cases.sign_in import SignIn
from chinwag.application.use_cases.sign_out import SignOut
from chinwag.application.use_cases.start_chat import StartChat, StartedChat
from chinwag.application.use_cases.trust_contact import TrustContact
from chinwag.application.use_cases.verify_contact import VerifyContact
from chinwag.application.use_cases.watch_people import WatchPeople
from chinwag.application.use_cases.who_am_i import WhoAmI
from chinwag.application.use_cases.who_is_online import WhoIsOnline

__all__ = [
    "AcceptFile",
    "CancelFile",
    "CountUnread",
    "DeclineFile",
    "FindOnline",
    "Groups",
    "ListContacts",
    "ListConversations",
    "ListTransfers",
    "LoadHistory",
    "MarkRead",
    "PostToGroup",
    "ReceiveMessages",
    "SearchHistory",
    "SendFile",
    "SendMessage",
    "SendMessages",
    "SignIn",
    "SignOut",
    "StartChat",
    "StartedChat",
    "TrustContact",
    "VerifyContact",
    "WatchPeople",
    "WhoAmI",
    "WhoIsOnline",
]
