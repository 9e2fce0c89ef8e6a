"""The workspaces that installed the app ("Add to Slack") and the OAuth flow's states.

This part never sees a token, only what `bot.keys.KeyBox` sealed of it (`bot.slack.install`
seals and opens). A workspace that leaves (`app_uninstalled`, `tokens_revoked`) is marked, not
deleted: its token is never handed out again, and its rows stay for a grace period, so a
reinstall within it finds everything as it was; `departed` names those whose period is over.
A reinstall clears the mark. States are kept as their digest, each consumed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Select, Table, and_, delete, func, select, update

from bot.store.backend import Backend
from bot.store.schema import digest, installations, metadata, oauth_states, subscriptions


def away() -> Select[str]:
    """The workspaces that left and may come back within their grace period: their channels
    are told nothing and their watches poll nothing until they install again."""
    return select(installations.c.team_id).where(installations.c.revoked_at.is_not(None))


def workspace_tables() -> list[Table]:
    """The tables whose rows belong to one workspace: those with a `team_id` (since v12),
    those that refer to others first."""
    tables = reversed(metadata.sorted_tables)
    return [t for t in tables if "team_id" in t.c and t is not installations]


@dataclass(frozen=True, slots=True)
class SealedInstallation:
    team_id: str  # the workspace key: its team id, or the org's enterprise id (org-wide)
    enterprise_id: str | None
    team_name: str | None
    is_enterprise_install: bool
    app_id: str | None
    bot_id: str | None
    bot_user_id: str
    scopes: str
    installed_by: str | None
    installed_at: datetime
    sealed_token: str
    revoked_at: datetime | None = None


class Installations:
    def __init__(self, backend: Backend, now: Callable[[], datetime]) -> None:
        self._backend = backend
        self._now = now

    async def put_installation(self, row: SealedInstallation) -> None:
        """Store the workspace's installation, replacing any before it (a reinstall, which
        also clears a departure)."""
        values = asdict(row) | {"revoked_at": None}
        statement = self._backend.insert(installations).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[installations.c.team_id],
            set_={k: v for k, v in values.items() if k != "team_id"},
        )
        async with self._backend.write() as conn:
            await conn.execute(statement)

    async def installation(self, team_id: str) -> SealedInstallation | None:
        """The workspace's installation, unless it left (or never came)."""
        query = select(installations).where(
            installations.c.team_id == team_id, installations.c.revoked_at.is_(None)
        )
        async with self._backend.read() as conn:
            row = (await conn.execute(query)).first()
        return SealedInstallation(**row._mapping) if row is not None else None

    async def installed_teams(self) -> dict[str, str]:
        """Every installed workspace's key → its sealed token."""
        query = select(installations.c.team_id, installations.c.sealed_token).where(
            installations.c.revoked_at.is_(None)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return {team: sealed for team, sealed in rows}

    async def reseal_installation(self, team_id: str, sealed: str, resealed: str) -> bool:
        """The workspace's token sealed anew (SECRET_KEY rotation), if its row still holds
        `sealed`: False if another replica did it first or the workspace installed again."""
        same = (installations.c.team_id == team_id) & (installations.c.sealed_token == sealed)
        query = update(installations).where(same).values(sealed_token=resealed)
        async with self._backend.write() as conn:
            result = await conn.execute(query)
        return bool(result.rowcount)

    async def revoke_installation(self, team_id: str) -> bool:
        """Mark the workspace gone (at once: its token is no longer handed out); False if it
        was not installed."""
        query = (
            update(installations)
            .where(installations.c.team_id == team_id, installations.c.revoked_at.is_(None))
            .values(revoked_at=self._now())
        )
        async with self._backend.write() as conn:
            result = await conn.execute(query)
        return bool(result.rowcount)

    async def workspace_counts(self) -> tuple[int, int]:
        """(installed, left and within their grace period)."""
        left = installations.c.revoked_at.is_not(None)
        query = select(func.count(), func.count().filter(left)).select_from(installations)
        async with self._backend.read() as conn:
            total, gone = (await conn.execute(query)).one()
        return int(total) - int(gone), int(gone)

    async def away_teams(self) -> frozenset[str]:
        """The workspaces that left, their grace period over or not (`away`)."""
        async with self._backend.read() as conn:
            return frozenset((await conn.scalars(away())).all())

    async def departed(self, before: datetime) -> list[str]:
        """The workspaces that left before `before`: their grace period is over."""
        query = select(installations.c.team_id).where(installations.c.revoked_at < before)
        async with self._backend.read() as conn:
            return list((await conn.scalars(query)).all())

    async def forget_installation(self, team_id: str, before: datetime) -> bool:
        """Delete the workspace if it still left before `before` (a reinstall meanwhile keeps
        it): its installation and every row of it (each table with a `team_id`), at once."""
        query = delete(installations).where(
            installations.c.team_id == team_id, installations.c.revoked_at < before
        )
        watching = select(subscriptions.c.channel_id, subscriptions.c.project_id).where(
            subscriptions.c.team_id == team_id
        )
        async with self._backend.write() as conn:
            if not (await conn.execute(query)).rowcount:
                return False
            watched = (await conn.execute(watching)).all()
            for table in workspace_tables():
                await conn.execute(delete(table).where(table.c.team_id == team_id))
        for channel_id, project_id in watched:  # what SQLite's backend keeps in memory too
            self._backend.memory.drop(team_id, channel_id, project_id)
        return True

    async def issue_state(self, state: str, expires_at: datetime) -> None:
        """Keep an OAuth `state` (its digest) until `expires_at`; expired ones go meanwhile."""
        async with self._backend.write() as conn:
            await conn.execute(delete(oauth_states).where(oauth_states.c.expires_at < self._now()))
            await conn.execute(
                oauth_states.insert().values(state_hash=digest(state), expires_at=expires_at)
            )

    async def consume_state(self, state: str, now: datetime) -> bool:
        """Whether `state` was issued and has not expired by `now`; it is good once."""
        query = delete(oauth_states).where(
            and_(oauth_states.c.state_hash == digest(state), oauth_states.c.expires_at >= now)
        )
        async with self._backend.write() as conn:
            result = await conn.execute(query)
        return bool(result.rowcount)
