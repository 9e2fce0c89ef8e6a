"""Which errors mean "the database is away" (down, unreachable, restarting, too slow), as
opposed to a bug: those are logged once per outage (`bot.conditions`), not per statement."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg.exceptions
import sqlalchemy.exc

from bot.conditions import Condition, Unexpected

# asyncpg's own words for a connection that is gone or cannot be had, and for a statement
# cut off by `statement_timeout` or a server shutting down.
_ASYNCPG_AWAY = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InterfaceError,
)
_SQLALCHEMY_AWAY = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
)


def database_away(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the database cannot be reached or answer."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError, *_ASYNCPG_AWAY, *_SQLALCHEMY_AWAY)):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def blame(
    doing: str, error: Exception, *, database: Condition | None, unexpected: Unexpected
) -> None:
    """Say `error`, raised while `doing`: the database away through its one condition (once
    per outage, for the whole process), anything else as the bug it is (`Unexpected`)."""
    if database is not None and database_away(error):
        database.failed(doing, error)
    else:
        unexpected(doing, error)


async def keep_doing(
    seconds: float,
    work: Callable[[], Awaitable[object]],
    doing: str,
    *,
    database: Condition | None,
    unexpected: Unexpected,
) -> None:
    """`work` every `seconds` until cancelled (first after one wait); a failure is `blame`d
    and the next round comes as ever."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception as error:
            blame(doing, error, database=database, unexpected=unexpected)
