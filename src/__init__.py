"""chinwag: peer-to-peer chat with a small registry and local SQLite history."""

__version__ = "0.1.0"
