"""aiosqlite with one trip to its thread per statement, not four.

aiosqlite runs each call on the connection's own thread and hands the result back to the
event loop: a queue put, a thread wake-up, a wake-up of the loop through its self-pipe. For
each statement SQLAlchemy's adapter makes four such calls (open a cursor, execute, fetch the
rows, close the cursor), so with many watched projects these trips made most of the process's
context switches (bench/scale.py measures it). Here a statement's cursor is
opened, executed, read to the end and closed in one call on that thread; SQLAlchemy then
reads the rows, `description`, `rowcount` and `lastrowid` kept from it. A transaction's
BEGIN (`begin_with_next`) goes with its first statement, in the same trip, not in one of its
own; a transaction with no statement makes no trip at all. And a ROLLBACK with no transaction
open (SQLAlchemy's pool sends one as each connection comes back, after a commit too) makes no
trip either.

What this relies on beyond aiosqlite's documented API: `Connection._execute` (a function run
on the thread) and `_conn` (the sqlite3 connection), which SQLAlchemy's own aiosqlite dialect
relies on too, and `_connection` and `_thread` (0.20 and 0.21 have no `_thread`). So
pyproject.toml holds aiosqlite and SQLAlchemy to the minors in `WRITTEN_FOR`, and
tests/store/test_sqlite_driver.py fails when a pin moves without this module, when an
installed version is outside them, or when a private name is gone. A server-side cursor
(`stream()`) works, but its rows are all read on the thread first, like any statement's; the
store streams nothing.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

Row = tuple[Any, ...]
T = TypeVar("T")

# The versions this module was written and tested against (see above); widen both together
# only after checking the private names against the new release's source.
WRITTEN_FOR = ("aiosqlite>=0.22,<0.23", "sqlalchemy[asyncio]>=2.1,<2.2")


class Cursor:
    """What SQLAlchemy's asyncio adapter asks of an aiosqlite cursor, each statement one
    call on the connection's thread; its rows are all read there."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: deque[Row] = deque()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        begin = self._connection.take_begin()
        self._rows = deque(
            await self._connection.on_thread(partial(self._run, begin, sql, parameters, False))
        )
        return self

    async def executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> Cursor:
        begin = self._connection.take_begin()
        self._rows = deque(
            await self._connection.on_thread(partial(self._run, begin, sql, parameters, True))
        )
        return self

    def _run(self, begin: str | None, sql: str, parameters: Any, many: bool) -> list[Row]:
        """On the connection's thread: the transaction's BEGIN if it is still to be sent,
        then the whole statement, and all its rows."""
        connection = self._connection._conn
        if begin is not None:
            connection.execute(begin)  # raises as BEGIN would have: the statement is not run
        cursor = connection.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description else []
            # Read after the rows: an UPDATE … RETURNING counts what it returned.
            self.description, self.rowcount = cursor.description, cursor.rowcount
            self.lastrowid = cursor.lastrowid
            return rows
        finally:
            cursor.close()

    async def fetchall(self) -> list[Row]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def fetchone(self) -> Row | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = min(len(self._rows), self.arraysize if size is None else size)
        return [self._rows.popleft() for _ in range(count)]

    async def close(self) -> None:
        self._rows.clear()


class Connection(aiosqlite.Connection):
    _begin: str | None = None  # a BEGIN to send with the next statement

    def begin_with_next(self, sql: str) -> None:
        """Open a transaction with `sql` ("BEGIN", "BEGIN IMMEDIATE"), sent with the next
        statement, in its trip; an error it meets (SQLITE_BUSY past the busy timeout) is
        raised by that statement."""
        self._begin = sql

    def take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    async def on_thread(self, function: Callable[[], T]) -> T:
        """`function()` on the connection's thread, its result (or exception) back here."""
        result: T = await self._execute(function)  # type: ignore[no-untyped-call]
        return result

    async def rollback(self) -> None:
        """No trip when there is nothing to roll back: SQLAlchemy rolls back each connection
        it returns to its pool, also after a commit or a read outside any transaction."""
        self._begin = None
        if self._connection is not None and not self._connection.in_transaction:
            return
        await super().rollback()

    async def commit(self) -> None:
        """No trip for a transaction that never sent its BEGIN: it has nothing to commit."""
        if self.take_begin() is not None and not self.in_transaction:
            return
        await super().commit()

    def cursor(self) -> Cursor:  # type: ignore[override]
        """Opened on the loop: the sqlite3 cursor is made on the thread, with its statement."""
        return Cursor(self)


def connect(database: str | Path) -> Connection:
    """Like `aiosqlite.connect`; awaited, it opens the database on its own thread (a daemon,
    as SQLAlchemy makes aiosqlite's, so a connection never closed cannot hold up exit)."""
    location = str(database)
    # As SQLAlchemy opens a SQLite file: the connection's own thread is the one that uses
    # it, but attributes such as `isolation_level` are read from the loop's.
    connection = Connection(lambda: sqlite3.connect(location, check_same_thread=False), 64)
    connection._thread.daemon = True
    return connection
