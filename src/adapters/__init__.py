"""Adapters: the ports implemented for real (TCP, SQLite, Tk) and in memory."""
