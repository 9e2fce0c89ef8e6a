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
        self, project_id: str, sealed: str, *, role: str | None, added_by: str
    ) -> None:
        """Store the project's sealed key, replacing any before it (rotation)."""
        values = {
            "project_id": project_id,
            "sealed": sealed,
            "role": role,
            "added_by": added_by,
            "updated_at": self._now(),
        }
        statement = self._backend.insert(ei_keys).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[ei_keys.c.project_id],
            set_={k: v for k, v in values.items() if k != "project_id"},
        )
        async with self._backend.write() as conn:
            await conn.execute(statement)

    async def reseal_key(self, project_id: str, sealed: str, resealed: str) -> bool:
        """The project's key sealed anew (`SECRET_KEY` rotation), if its row still holds
        `sealed`: False if another replica re-sealed it first or the key was replaced."""
        same = (ei_keys.c.project_id == project_id) & (ei_keys.c.sealed == sealed)
        async with self._backend.write() as conn:
            result = await conn.execute(update(ei_keys).where(same).values(sealed=resealed))
        return bool(result.rowcount)

    async def remove_key(self, project_id: str) -> bool:
        """Forget the project's key; False if none was stored."""
        async with self._backend.write() as conn:
            result = await conn.execute(delete(ei_keys).where(ei_keys.c.project_id == project_id))
        return bool(result.rowcount)

    async def sealed_keys(self) -> list[SealedKey]:
        """Every stored key, sealed, by project id."""
        async with self._backend.read() as conn:
            rows = (await conn.execute(select(ei_keys))).all()
        found = [SealedKey(r.project_id, r.sealed, r.role, r.added_by, r.updated_at) for r in rows]
        return sorted(found, key=lambda k: project_order(k.project_id))
