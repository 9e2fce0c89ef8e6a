"""`DATABASE_URL` → a SQLAlchemy async engine, with errors that say what to write instead.

`sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite:///:memory:`, or
`postgresql://user:password@host:5432/db` (also `postgres://`; libpq-style query options such
as `sslmode=require` work, and any other option is sent as a server setting, e.g.
`search_path=eon`). A new SQLite file is readable by its owner only (0600), in WAL mode.
PostgreSQL connections give up after `CONNECT_TIMEOUT_S`, and each statement after
`STATEMENT_TIMEOUT_MS` (unless the URL sets `statement_timeout` itself), so a database that
stops answering fails a poll or a delivery, which are retried, instead of hanging them.
A password never appears in an error: see `redact_url`.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # no stubs; one call, to connect
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.capacity import CAPACITY
from bot.errors import ConfigError, DatabaseUnreachable
from bot.store import sqlite_driver

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 10.0
STATEMENT_TIMEOUT_MS = 30_000
_EXPECTED = "sqlite:///path/to/eon-bot.db or postgresql://user:password@host:5432/dbname"


@dataclass(frozen=True, slots=True)
class Target:
    url: URL  # what SQLAlchemy picks the dialect from
    sqlite_path: Path | None = None  # None: in memory, or PostgreSQL
    dsn: str | None = None  # PostgreSQL: the URL as libpq/asyncpg understands it
    password: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dsn is None


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for messages and logs.

    Works on strings no parser accepts, because those are the ones that end up in errors.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _unusable(url: str, why: str) -> ConfigError:
    return ConfigError(f"DATABASE_URL {redact_url(url)!r} is not usable: {why}. Use {_EXPECTED}.")


def parse(database_url: str) -> Target:
    """What the URL names; ConfigError (one line, no password) if it names nothing usable."""
    raw = database_url.strip()
    if not raw:
        raise _unusable(raw, "it is empty")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise _unusable(raw, "it is not a URL of the form scheme://…") from None  # no chained text
    scheme = url.drivername
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        if url.host or url.username or url.password or url.port:
            raise _unusable(raw, "a SQLite URL names a file, not a host (three slashes)")
        if url.query:
            raise _unusable(raw, "SQLite URLs take no ?options")
        if not url.database:
            raise _unusable(raw, "it names no file (sqlite:///:memory: for a throwaway one)")
        if url.database == ":memory:":
            return Target(URL.create("sqlite+aiosqlite", database=":memory:"))
        path = Path(url.database)
        if not path.parent.is_dir():
            raise _unusable(raw, f"the folder {str(path.parent)!r} does not exist")
        return Target(URL.create("sqlite+aiosqlite", database=str(path)), sqlite_path=path)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        # No host is libpq's local socket; asyncpg parses the rest (sslmode, options, …).
        dsn = "postgresql" + raw[raw.index("://") :]
        return Target(URL.create("postgresql+asyncpg"), dsn=dsn, password=url.password)
    raise _unusable(raw, f"{scheme!r} is not supported (SQLite and PostgreSQL are)")


def create_engine(database_url: str, target: Target) -> AsyncEngine:
    """The engine for `target`; a SQLite file is created private first. No connection yet."""
    if target.dsn is not None:
        dsn = target.dsn
        settings = (
            {} if "statement_timeout" in dsn else {"statement_timeout": f"{STATEMENT_TIMEOUT_MS}"}
        )
        return create_async_engine(
            target.url,
            async_creator=lambda: asyncpg.connect(
                dsn, timeout=CONNECT_TIMEOUT_S, server_settings=settings
            ),
            pool_pre_ping=True,
            pool_timeout=CONNECT_TIMEOUT_S,
            pool_size=CAPACITY.pool_size,  # sized against the polls' writes (`bot.capacity`)
            max_overflow=CAPACITY.pool_overflow,
        )
    if target.sqlite_path is not None:
        try:
            _create_private(target.sqlite_path)
        except OSError as exc:
            raise _unusable(database_url, f"cannot create the file ({exc})") from exc
    database = target.url.database or ":memory:"
    engine = create_async_engine(target.url, async_creator=lambda: sqlite_driver.connect(database))
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def cannot_open(database_url: str, target: Target, exc: Exception) -> ConfigError:
    """The one-line error for a database that refused the first connection or migration:
    `DatabaseUnreachable` when no connection was had (refused, timed out, the server not
    taking connections), a plain `ConfigError` when the server answered no (a login, a name)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    if target.password:
        reason = reason.replace(target.password, "***")
    error = DatabaseUnreachable if _no_connection(cause) else ConfigError
    return error(
        f"Cannot open the database at DATABASE_URL={redact_url(database_url.strip())}: "
        f"{reason[:500]}"
    )


def _no_connection(cause: BaseException) -> bool:
    if isinstance(cause, socket.gaierror):  # a host name that does not resolve: the setting
        return False
    busy = (asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)
    return isinstance(cause, (OSError, TimeoutError, *busy))


def _create_private(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does, so it never exists readable by others;
    SQLite gives its -wal/-shm/-journal files the database file's mode."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
        return
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask made of it


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level=None: SQLAlchemy's `begin` listener below emits BEGIN itself, so
    # transactions (DDL included) are real and writes can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE for writes: a deferred transaction that reads, then writes after another
    # process committed, fails at once with SQLITE_BUSY; IMMEDIATE waits out busy_timeout.
    # None for the store's reads (`SqliteBackend.read`): each statement is its own transaction.
    # The driver sends it with the transaction's first statement (`sqlite_driver`).
    options = conn.get_execution_options()
    if not options.get("eon_read", False):
        driver: sqlite_driver.Connection = conn.connection.driver_connection
        driver.begin_with_next("BEGIN IMMEDIATE" if options.get("eon_write", False) else "BEGIN")
