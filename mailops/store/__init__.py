"""The SQLite mail store: all SQL in mailops lives in this package."""

from mailops.store.store import Incoming, MessageRow, Store

__all__ = ["Incoming", "MessageRow", "Store"]
