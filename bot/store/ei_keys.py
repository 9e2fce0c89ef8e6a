"""Edge Impulse keys added with `/eon key`, as sealed text (`bot.keys.box`): this part never
sees a key, only what `KeyBox.seal` made of it. On PostgreSQL every replica reads the same rows,
so a key added through one is used by all once they read them again (`bot.keys.ring`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from bot.store.backend import Backend
from bot.store.mirror import project_order
from bot.store.schema import ei_keys


@dataclass(frozen=True, slots=True)
class SealedKey:
    team_id: str  # the workspace that added it: its own, for its channels (DESIGN33 point 3)
    project_id: str
    sealed: str
    role: str | None
    added_by: str
    updated_at: datetime


class EiKeys:
    def __init__(self, backend: Backend, now: Callable[[], datetime]) -> None:
        self._backend = backend
        self._now = now

    async def put_key(
        self, team: str, project_id: str, sealed: str, *, role: str | None, added_by: str
    ) -> None:
        """Store the workspace's sealed key of the project, replacing any before it."""
        values = {
            "team_id": team,
            "project_id": project_id,
            "sealed": sealed,
            "role": role,
            "added_by": added_by,
            "updated_at": self._now(),
        }
        statement = self._backend.insert(ei_keys).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[ei_keys.c.team_id, ei_keys.c.project_id],
            set_={k: v for k, v in values.items() if k not in ("team_id", "project_id")},
        )
        async with self._backend.write() as conn:
            await conn.execute(statement)

    async def reseal_key(self, team: str, project_id: str, sealed: str, resealed: str) -> bool:
        """The workspace's key of the project sealed anew (`SECRET_KEY` rotation), if its row
        still holds `sealed`: False if another replica re-sealed it first or it was replaced."""
        same = (
            (ei_keys.c.team_id == team)
            & (ei_keys.c.project_id == project_id)
            & (ei_keys.c.sealed == sealed)
        )
        async with self._backend.write() as conn:
            result = await conn.execute(update(ei_keys).where(same).values(sealed=resealed))
        return bool(result.rowcount)

    async def remove_key(self, team: str, project_id: str) -> bool:
        """Forget the workspace's key of the project; False if none was stored."""
        mine = (ei_keys.c.team_id == team) & (ei_keys.c.project_id == project_id)
        async with self._backend.write() as conn:
            result = await conn.execute(delete(ei_keys).where(mine))
        return bool(result.rowcount)

    async def sealed_keys(self) -> list[SealedKey]:
        """Every workspace's stored keys, sealed, by project id, the earliest added first (the
        one a poll reads with when no deployment key does, `bot.keys.ring`)."""
        async with self._backend.read() as conn:
            rows = (await conn.execute(select(ei_keys))).all()
        found = [
            SealedKey(r.team_id, r.project_id, r.sealed, r.role, r.added_by, r.updated_at)
            for r in rows
        ]
        return sorted(found, key=lambda k: (project_order(k.project_id), k.updated_at))
