"""Calling the endpoint: its URL, waking it, chat, compare and bench."""
