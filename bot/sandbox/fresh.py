"""A sandbox's folder, and its SQLite database started afresh: the demo and `eon-bot try`
each show a whole run from its start, so a database a previous one left in the same folder is
removed first (only the database's own files; whatever else the folder holds stays)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bot.errors import ConfigError
from bot.service.fleet import SqliteLock

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
    """A temporary folder removed at the end, or `keep` (made if need be) left in place. A
    `keep` that is a file, or that cannot be made or written, is a `ConfigError` naming it."""
    if keep is None:
        return tempfile.TemporaryDirectory(prefix=prefix)
    try:
        keep.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "it is a file" if keep.is_file() else (error.strerror or str(error)).lower()
        raise ConfigError(f"--keep {keep}: cannot work there ({reason}); name a folder") from None
    if not os.access(keep, os.W_OK | os.X_OK):
        raise ConfigError(f"--keep {keep}: cannot write there (permission denied); name a folder")
    return contextlib.nullcontext(str(keep))
