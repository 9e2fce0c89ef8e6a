"""Which errors mean "the database is away" (down, unreachable, restarting, too slow), as
opposed to a bug: those are logged once per outage (`bot.conditions`), not per statement."""

from __future__ import annotations

import asyncpg.exceptions
import sqlalchemy.exc

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
