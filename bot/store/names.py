"""Each project's name as Edge Impulse gives it (`bot.service.names` fetches it, daily at most),
kept in its own narrow table so that the poll-hot `projects` row is not rewritten for it, and read
in one query for views that list many projects (the Home tab, `/eon list`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from bot.store.backend import Backend
from bot.store.schema import project_names


class Names:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def project_name(self, project_id: str) -> tuple[str | None, datetime | None]:
        """The project's name (None: not known) and when it was last asked for (None: never)."""
        query = select(project_names.c.name, project_names.c.fetched_at).where(
            project_names.c.project_id == project_id
        )
        async with self._backend.read() as conn:
            row = (await conn.execute(query)).first()
        return (row.name, row.fetched_at) if row is not None else (None, None)

    async def project_names(self, project_ids: Sequence[str]) -> dict[str, str]:
        """The known names of `project_ids` (those without one are left out)."""
        if not project_ids:
            return {}
        query = select(project_names.c.project_id, project_names.c.name).where(
            project_names.c.project_id.in_(list(project_ids)), project_names.c.name.is_not(None)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return {row.project_id: row.name for row in rows}

    async def put_project_name(self, project_id: str, name: str | None, at: datetime) -> None:
        """Record an answer: the name, or None when Edge Impulse would not say (a name known
        before is kept then: a key that lost the right to read it does not rename the project)."""
        insert = self._backend.insert(project_names).values(
            project_id=project_id, name=name, fetched_at=at
        )
        changes = {"fetched_at": insert.excluded.fetched_at}
        if name is not None:
            changes["name"] = insert.excluded.name
        statement = insert.on_conflict_do_update(index_elements=["project_id"], set_=changes)
        async with self._backend.write() as conn:
            await conn.execute(statement)
