"""Which projects' polls are failing now, and Edge Impulse's last word on each, for views that
list many projects at once (the Home tab) in one read instead of one per project."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from bot.store.backend import Backend
from bot.store.schema import projects


class Outages:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def failing(self, project_ids: Sequence[str]) -> dict[str, str]:
        """The projects among `project_ids` whose polls fail, each with its last error."""
        if not project_ids:
            return {}
        query = select(projects.c.project_id, projects.c.last_error).where(
            projects.c.project_id.in_(list(project_ids)), projects.c.failing_since.is_not(None)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return {row.project_id: row.last_error or "unknown error" for row in rows}
