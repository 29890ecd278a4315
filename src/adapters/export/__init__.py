"""Export formats of the history: JSON lines (for tools, and to import back), readable text, and
one self-contained HTML page. Each is a :class:`~chinwag.application.history_export.HistoryWriter`
over a text stream, writing every message as it comes."""
