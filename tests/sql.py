"""The SQL a store runs (test helper): to show what a path reads and writes, not only what it
returns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from bot.store import Store


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The statements the store's engine runs inside the block, whitespace folded."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(" ".join(statement.split()))

    engine = store.backend.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
