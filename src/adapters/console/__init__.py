"""The terminal client: JSON-lines and friendly text front ends over the same use cases."""

INPUT_HISTORY_FILE = "input-history"
"""The lines you typed, in your user folder (0600, like every file of ours). Here, not beside
the line editor that uses it, so that naming it (the start-up link check of every program
does) costs no import of prompt_toolkit."""
