"""Projects' names in the store (`bot.store.names`), on SQLite and PostgreSQL: what was asked
when, a refusal that keeps a name known before, and one read for many projects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import Store

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_a_name_is_stored_and_a_refusal_keeps_it(store: Store) -> None:
    assert await store.project_name("1") == (None, None)
    await store.put_project_name("1", "Keyword spotting", T0)
    assert await store.project_name("1") == ("Keyword spotting", T0)
    later = T0 + timedelta(days=1)
    await store.put_project_name("1", None, later)  # refused: asked, name kept
    assert await store.project_name("1") == ("Keyword spotting", later)
    await store.put_project_name("1", "Wake word", later)
    await store.put_project_name("2", None, T0)  # never known
    assert await store.project_name("2") == (None, T0)
    assert await store.project_names(["1", "2", "3"]) == {"1": "Wake word"}
    assert await store.project_names([]) == {}
