"""Helpers shared by the store's tests."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.migrations import migrate
from bot.store.schema import metadata


async def rewind(conn: AsyncConnection, upto: int) -> None:
    """Make the database empty at schema version `upto`, as an eon-bot of that version left
    it: every table of today's schema dropped (those referred to last), then the steps up to
    `upto` run again."""
    for table in reversed(metadata.sorted_tables):
        if table.name != "schema_version":
            await conn.execute(text(f"DROP TABLE {table.name}"))
    await conn.execute(text("DELETE FROM schema_version"))
    await conn.run_sync(lambda sync: migrate(sync, upto=upto))
