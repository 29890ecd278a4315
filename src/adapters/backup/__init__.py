"""Backups of a user folder: one encrypted file holding the identity and the history."""
