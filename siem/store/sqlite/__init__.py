"""The SQLite backend of the store (the default, embedded in the process)."""

from siem.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
