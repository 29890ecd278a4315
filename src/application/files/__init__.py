"""Files sent in conversations: offers, pulling pieces, serving them (docs/design-files.md)."""

from chinwag.application.files.engine import Transfers
from chinwag.application.files.service import FileService
from chinwag.application.files.settings import FileSettings
from chinwag.application.files.status import TransferStatus

__all__ = ["FileService", "FileSettings", "TransferStatus", "Transfers"]
