"""A sandbox's folder, and its SQLite database started afresh: the demo and `eon-bot try`
each show a whole run from its start, so a database a previous one left in the same folder is
removed first (only the database's own files; whatever else the folder holds stays)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from bot.fleet import SqliteLock

DATABASE = "eon-bot.db"
_SUFFIXES = ("", "-wal", "-shm", "-journal")


def fresh_database(folder: Path) -> bool:
    """Remove `folder`'s sandbox database, if any; True if there was one. A sandbox still
    running on it holds its lock, and this refuses (`ConfigError`) rather than pull the
    database from under it."""
    database = folder / DATABASE
    found = [database.with_name(database.name + s) for s in _SUFFIXES]
    found = [path for path in found if path.exists()]
    if not found:
        return False
    lock = SqliteLock(database)
    lock.acquire()
    try:
        for path in found:
            path.unlink(missing_ok=True)
    finally:
        lock.release()
    return True


def sandbox_folder(keep: Path | None, prefix: str) -> contextlib.AbstractContextManager[str]:
    """A temporary folder removed at the end, or `keep` (made if need be) left in place."""
    if keep is None:
        return tempfile.TemporaryDirectory(prefix=prefix)
    keep.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(keep))
