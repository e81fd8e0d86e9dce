"""Watching the app: `status`'s summary, `logs`' console lines, start-up failures."""
