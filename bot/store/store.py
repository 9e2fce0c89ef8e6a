"""The bot's memory: subscriptions, snapshots, the outbox of messages owed, and run cards.

A poll's result is stored in ONE transaction (snapshot, summary, outage and one outbox row per
(event, subscribed channel)), so a crash never leaves a snapshot that claims events were
reported without their rows, nor rows without the snapshot. Inserts that may race (two
pollers, a restart) use the dialect's `INSERT … ON CONFLICT DO NOTHING`; UNIQUE(channel, event
key) makes each event reach a channel at most once. Tables and migrations: `store_schema`.

`DATABASE_URL`: `sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite:///:memory:`, or
`postgresql://user:password@host:5432/db` (also `postgres://`; libpq-style query options such
as `sslmode=require` work, and any other option is sent as a server setting, e.g.
`search_path=eon`). A new SQLite file is readable by its owner only (0600), in WAL mode.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # no stubs; one call, to connect
from sqlalchemy import and_, delete, event, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.core.events import Event, EventKind, Snapshot
from bot.core.summary import RunSummary
from bot.errors import ConfigError
from bot.store.schema import (
    ABANDONED,
    ATTEMPTING,
    OPEN_STATES,
    PENDING,
    SENT,
    cards,
    migrate,
    outbox,
    projects,
    runs,
    subscriptions,
)

log = logging.getLogger(__name__)

MODES = ("all", "milestones")
MILESTONE_KINDS: frozenset[EventKind] = frozenset(EventKind) - {
    EventKind.TRIAL_COMPLETED,
    EventKind.TRIAL_FAILED,
}
"""What `milestones` subscriptions get: everything but single trials completing or failing."""

SQLITE_BUSY_TIMEOUT_MS = 5000
HEALTH_TIMEOUT_S = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Subscription:
    channel_id: str
    project_id: str
    added_by: str
    mode: str  # "all" | "milestones"
    paused_reason: str | None
    created_at: datetime
    needs_start: bool


@dataclass(frozen=True, slots=True)
class Outage:
    """Per project: the API-failure bookkeeping the poller keeps between polls."""

    failing_since: datetime | None = None
    unreachable_notified: bool = False
    auth_notified: bool = False
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    channel_id: str
    project_id: str
    run_id: str | None
    event: Event
    state: str  # "pending" | "attempting" (an attempt started and its outcome is unknown)
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    """A run's top-level message in one channel, edited as the run's summary changes."""

    channel_id: str
    project_id: str
    run_id: str
    ts: str
    rendered_version: int


# --- DATABASE_URL ---------------------------------------------------------------------------

_EXPECTED = "sqlite:///path/to/eon-bot.db or postgresql://user:password@host:5432/dbname"


@dataclass(frozen=True, slots=True)
class _Target:
    url: URL  # what SQLAlchemy picks the dialect from
    sqlite_path: Path | None = None  # None: in memory, or PostgreSQL
    dsn: str | None = None  # PostgreSQL: the URL as libpq/asyncpg understands it
    password: str | None = None


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for messages and logs.

    Works on strings no parser accepts, because those are the ones that end up in errors.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _unusable(url: str, why: str) -> ConfigError:
    return ConfigError(f"DATABASE_URL {redact_url(url)!r} is not usable: {why}. Use {_EXPECTED}.")


def _parse(database_url: str) -> _Target:
    raw = database_url.strip()
    if not raw:
        raise _unusable(raw, "it is empty")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise _unusable(raw, "it is not a URL of the form scheme://…") from None  # no chained text
    scheme = url.drivername
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        if url.host or url.username or url.password or url.port:
            raise _unusable(raw, "a SQLite URL names a file, not a host (three slashes)")
        if url.query:
            raise _unusable(raw, "SQLite URLs take no ?options")
        if not url.database:
            raise _unusable(raw, "it names no file (sqlite:///:memory: for a throwaway one)")
        if url.database == ":memory:":
            return _Target(URL.create("sqlite+aiosqlite", database=":memory:"))
        path = Path(url.database)
        if not path.parent.is_dir():
            raise _unusable(raw, f"the folder {str(path.parent)!r} does not exist")
        return _Target(URL.create("sqlite+aiosqlite", database=str(path)), sqlite_path=path)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        # No host is libpq's local socket; asyncpg parses the rest (sslmode, options, …).
        dsn = "postgresql" + raw[raw.index("://") :]
        return _Target(URL.create("postgresql+asyncpg"), dsn=dsn, password=url.password)
    raise _unusable(raw, f"{scheme!r} is not supported (SQLite and PostgreSQL are)")


def _create_private(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does, so it never exists readable by others;
    SQLite gives its -wal/-shm/-journal files the database file's mode."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
        return
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask made of it


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level=None: SQLAlchemy's `begin` listener below emits BEGIN itself, so
    # transactions (DDL included) are real and writes can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE for writes: a deferred transaction that reads, then writes after another
    # process committed, fails at once with SQLITE_BUSY; IMMEDIATE waits out busy_timeout.
    write = conn.get_execution_options().get("eon_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _short_error(error: str) -> str:
    """One line, at most 300 characters, with anything that looks like a token masked."""
    error = re.sub(r"\b(xox[a-z]-|xapp-|ei_)[\w-]+", r"\1***", error)
    return " ".join(error.split())[:300]


def _project_order(project_id: str) -> tuple[int, int, str]:
    return (0, int(project_id), "") if project_id.isdigit() else (1, 0, project_id)


# --- the store ------------------------------------------------------------------------------


class Store:
    """All database access. Create with `await Store.open(url)`; `close()` when done."""

    def __init__(
        self, engine: AsyncEngine, *, now: Callable[[], datetime], is_sqlite: bool
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(eon_write=True)
        self._now = now
        self._postgres = not is_sqlite
        # In one process, SQLite transactions take turns here instead of spinning on
        # busy_timeout (and `:memory:` has a single shared connection); PostgreSQL has MVCC.
        self._lock = asyncio.Lock() if is_sqlite else None

    @classmethod
    async def open(cls, database_url: str, *, now: Callable[[], datetime] = utcnow) -> Store:
        """Connect, create or migrate the schema; ConfigError if the URL or the database is bad."""
        target = _parse(database_url)
        if target.dsn is not None:
            dsn = target.dsn
            engine = create_async_engine(
                target.url, async_creator=lambda: asyncpg.connect(dsn), pool_pre_ping=True
            )
        else:
            if target.sqlite_path is not None:
                try:
                    _create_private(target.sqlite_path)
                except OSError as exc:
                    raise _unusable(database_url, f"cannot create the file ({exc})") from exc
            engine = create_async_engine(target.url)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        store = cls(engine, now=now, is_sqlite=target.dsn is None)
        try:
            async with store._write() as conn:
                await conn.run_sync(migrate)
        except ConfigError:
            await engine.dispose()
            raise
        except Exception as exc:
            await engine.dispose()
            cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            reason = " ".join(str(cause).split()) or type(cause).__name__
            if target.password:
                reason = reason.replace(target.password, "***")
            raise ConfigError(
                f"Cannot open the database at {redact_url(database_url.strip())}: {reason[:500]}"
            ) from exc
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    def _turn(self) -> AbstractAsyncContextManager[Any]:
        return self._lock if self._lock is not None else nullcontext()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._turn(), self._engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._turn(), self._writer.begin() as conn:
            yield conn

    def _insert(self, table: Any) -> sqlite.Insert | postgresql.Insert:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    async def healthy(self) -> bool:
        """SELECT 1 answers within a few seconds (for /healthz)."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S), self._read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            log.warning("database health check failed", exc_info=True)
            return False
        return True

    # --- subscriptions ---

    async def subscribe(
        self, channel_id: str, project_id: str, *, added_by: str, mode: str = "all"
    ) -> bool:
        """False if the channel already watches the project (its mode is left as it was)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        row = {
            "channel_id": channel_id,
            "project_id": project_id,
            "added_by": added_by,
            "mode": mode,
            "paused_reason": None,
            "created_at": self._now(),
            "needs_start": True,
        }
        stmt = self._insert(subscriptions).values(row).on_conflict_do_nothing()
        async with self._write() as conn:
            result = await conn.execute(stmt.returning(subscriptions.c.channel_id))
            return result.first() is not None

    async def unsubscribe(self, channel_id: str, project_id: str) -> bool:
        """Drop the subscription and its pending rows; rows mid-attempt become `abandoned` and
        sent ones stay, since those messages may be in the channel and must not be re-posted."""
        pair = and_(outbox.c.channel_id == channel_id, outbox.c.project_id == project_id)
        async with self._write() as conn:
            gone = await conn.execute(
                delete(subscriptions)
                .where(subscriptions.c.channel_id == channel_id)
                .where(subscriptions.c.project_id == project_id)
                .returning(subscriptions.c.channel_id)
            )
            if gone.first() is None:
                return False
            await conn.execute(delete(outbox).where(pair, outbox.c.state == PENDING))
            await conn.execute(
                update(outbox).where(pair, outbox.c.state == ATTEMPTING).values(state=ABANDONED)
            )
            return True

    async def subscriptions(
        self, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Subscription]:
        """Ordered by project id (numerically where numeric), then channel."""
        query = select(subscriptions)
        if channel_id is not None:
            query = query.where(subscriptions.c.channel_id == channel_id)
        if project_id is not None:
            query = query.where(subscriptions.c.project_id == project_id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        found = [Subscription(**row._asdict()) for row in rows]
        return sorted(found, key=lambda s: (_project_order(s.project_id), s.channel_id))

    async def watched_projects(self) -> list[str]:
        """Projects with at least one subscription, paused or not (paused ones still queue)."""
        async with self._read() as conn:
            rows = await conn.execute(select(subscriptions.c.project_id).distinct())
            return sorted(rows.scalars(), key=_project_order)

    async def pause_channel(self, channel_id: str, reason: str) -> None:
        """Hold back delivery to the channel (e.g. the bot was removed); rows keep queueing."""
        async with self._write() as conn:
            await conn.execute(
                update(subscriptions)
                .where(subscriptions.c.channel_id == channel_id)
                .values(paused_reason=reason)
            )

    async def resume_channel(self, channel_id: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(subscriptions)
                .where(subscriptions.c.channel_id == channel_id)
                .values(paused_reason=None)
            )

    # --- polling ---

    async def load_project(self, project_id: str) -> tuple[Snapshot | None, Outage]:
        async with self._read() as conn:
            row = (
                await conn.execute(select(projects).where(projects.c.project_id == project_id))
            ).first()
        if row is None:
            return None, Outage()
        snapshot = Snapshot.model_validate_json(row.snapshot) if row.snapshot else None
        return snapshot, Outage(
            failing_since=row.failing_since,
            unreachable_notified=row.unreachable_notified,
            auth_notified=row.auth_notified,
            last_error=row.last_error,
        )

    async def snapshot(self, project_id: str) -> Snapshot | None:
        async with self._read() as conn:
            found = await conn.scalar(
                select(projects.c.snapshot).where(projects.c.project_id == project_id)
            )
        return Snapshot.model_validate_json(found) if found else None

    async def save_poll(
        self,
        project_id: str,
        *,
        snapshot: Snapshot | None,
        events: Sequence[Event],
        outage: Outage,
        start_event: Event | None = None,
    ) -> int:
        """Store one poll's outcome in ONE transaction; returns the number of outbox rows added.

        `snapshot=None` (a failed poll) keeps the previous snapshot. `start_event` goes to the
        subscriptions still waiting for one (new ones), ahead of `events` unless `events`
        already carry its key; then no subscription of the project waits any more.
        """
        for item in (*events, *([start_event] if start_event else [])):
            if item.project_id != project_id:
                raise ValueError(f"event {item.key!r} is not about project {project_id}")
        if snapshot is not None and snapshot.project_id != project_id:
            raise ValueError(f"snapshot of project {snapshot.project_id}, not {project_id}")
        now = self._now()
        async with self._write() as conn:
            await self._save_project(conn, project_id, snapshot, outage, now)
            if snapshot is not None and snapshot.summary is not None and snapshot.run_id:
                await self._save_summary(conn, project_id, snapshot.run_id, snapshot.summary, now)
            everyone = [
                (row.channel_id, row.mode)
                for row in await conn.execute(
                    select(subscriptions.c.channel_id, subscriptions.c.mode)
                    .where(subscriptions.c.project_id == project_id)
                    .order_by(subscriptions.c.channel_id)
                )
            ]
            plan = [(item, everyone) for item in events]
            if start_event is not None:
                # Claim atomically: a subscription made after this UPDATE keeps waiting.
                waiting = (
                    await conn.execute(
                        update(subscriptions)
                        .where(subscriptions.c.project_id == project_id)
                        .where(subscriptions.c.needs_start.is_(True))
                        .values(needs_start=False)
                        .returning(subscriptions.c.channel_id, subscriptions.c.mode)
                    )
                ).all()
                if all(item.key != start_event.key for item in events):
                    plan.insert(0, (start_event, sorted((r.channel_id, r.mode) for r in waiting)))
            inserted = 0
            for item, targets in plan:
                inserted += await self._enqueue(conn, item, targets, now)
            return inserted

    async def _save_project(
        self,
        conn: AsyncConnection,
        project_id: str,
        snapshot: Snapshot | None,
        outage: Outage,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {
            "project_id": project_id,
            "failing_since": outage.failing_since,
            "unreachable_notified": outage.unreachable_notified,
            "auth_notified": outage.auth_notified,
            "last_error": outage.last_error,
            "updated_at": now,
        }
        if snapshot is not None:
            values["snapshot"] = snapshot.model_dump_json()
        stmt = self._insert(projects).values(values)
        changes = {name: stmt.excluded[name] for name in values if name != "project_id"}
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=[projects.c.project_id], set_=changes)
        )

    async def _save_summary(
        self,
        conn: AsyncConnection,
        project_id: str,
        run_id: str,
        summary: RunSummary,
        now: datetime,
    ) -> None:
        """Keep the run's latest summary; its version moves only when the summary changed,
        which is what tells delivery a card needs editing."""
        body = summary.model_dump_json()
        first = self._insert(runs).values(
            project_id=project_id, run_id=run_id, summary=body, version=1, updated_at=now
        )
        if (await conn.execute(first.on_conflict_do_nothing().returning(runs.c.version))).first():
            return
        await conn.execute(
            update(runs)
            .where(runs.c.project_id == project_id, runs.c.run_id == run_id, runs.c.summary != body)
            .values(summary=body, version=runs.c.version + 1, updated_at=now)
        )

    async def _enqueue(
        self,
        conn: AsyncConnection,
        item: Event,
        targets: Iterable[tuple[str, str]],
        now: datetime,
    ) -> int:
        body = item.model_dump_json()
        inserted = 0
        for channel_id, mode in targets:
            if mode == "milestones" and item.kind not in MILESTONE_KINDS:
                continue
            stmt = self._insert(outbox).values(
                channel_id=channel_id,
                project_id=item.project_id,
                run_id=item.run_id,
                event_key=item.key,
                kind=item.kind.value,
                event=body,
                state=PENDING,
                attempts=0,
                created_at=now,
            )
            stmt = stmt.on_conflict_do_nothing(index_elements=["channel_id", "event_key"])
            if (await conn.execute(stmt.returning(outbox.c.id))).first() is not None:
                inserted += 1
        return inserted

    # --- delivery ---

    def _active(self) -> Any:
        """Outbox and card rows whose (channel, project) is subscribed and not paused."""
        return and_(
            subscriptions.c.paused_reason.is_(None),
            subscriptions.c.channel_id == outbox.c.channel_id,
            subscriptions.c.project_id == outbox.c.project_id,
        )

    async def channels_with_work(self) -> list[str]:
        """Unpaused channels with rows to post or a card behind its run's summary."""
        owed = exists().where(
            outbox.c.channel_id == subscriptions.c.channel_id,
            outbox.c.project_id == subscriptions.c.project_id,
            outbox.c.state.in_(OPEN_STATES),
        )
        stale = exists().where(
            cards.c.channel_id == subscriptions.c.channel_id,
            cards.c.project_id == subscriptions.c.project_id,
            runs.c.project_id == cards.c.project_id,
            runs.c.run_id == cards.c.run_id,
            runs.c.version > cards.c.rendered_version,
        )
        query = (
            select(subscriptions.c.channel_id)
            .where(subscriptions.c.paused_reason.is_(None), or_(owed, stale))
            .distinct()
            .order_by(subscriptions.c.channel_id)
        )
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars())

    async def outbox(self, channel_id: str, *, limit: int = 100) -> list[OutboxRow]:
        """Rows to post in the channel, oldest first; none of paused subscriptions."""
        query = (
            select(outbox)
            .where(outbox.c.channel_id == channel_id, outbox.c.state.in_(OPEN_STATES))
            .where(exists().where(self._active()))
            .order_by(outbox.c.id)
            .limit(limit)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OutboxRow(
                id=row.id,
                channel_id=row.channel_id,
                project_id=row.project_id,
                run_id=row.run_id,
                event=Event.model_validate_json(row.event),
                state=row.state,
                attempts=row.attempts,
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def mark_attempting(self, row_id: int) -> bool:
        """Committed before the Slack call, so a crash mid-call leaves a trace to check.
        False if the row is no longer to be posted (the channel unsubscribed): skip it."""
        async with self._write() as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state.in_(OPEN_STATES))
                .values(state=ATTEMPTING, attempts=outbox.c.attempts + 1)
                .returning(outbox.c.id)
            )
            return result.first() is not None

    async def mark_sent(self, row_id: int, *, ts: str, card_version: int | None = None) -> None:
        """Record the post; with `card_version`, the message also becomes its run's card in
        the channel (same transaction, so a card never exists without its row marked sent)."""
        async with self._write() as conn:
            row = (
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(state=SENT, ts=ts, sent_at=self._now())
                    .returning(outbox.c.channel_id, outbox.c.project_id, outbox.c.run_id)
                )
            ).first()
            if row is None or card_version is None:
                return
            if row.run_id is None:
                # Raising would roll back the `sent` mark and get the message posted again.
                log.error("outbox row %s has no run: not recording it as a card", row_id)
                return
            stmt = self._insert(cards).values(
                channel_id=row.channel_id,
                project_id=row.project_id,
                run_id=row.run_id,
                ts=ts,
                rendered_version=card_version,
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[cards.c.channel_id, cards.c.project_id, cards.c.run_id],
                    set_={"ts": stmt.excluded.ts, "rendered_version": card_version},
                )
            )

    async def mark_retry(self, row_id: int, error: str) -> None:
        """Back to pending (unless sent or abandoned meanwhile), keeping a short, masked error."""
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state.in_(OPEN_STATES))
                .values(state=PENDING, last_error=_short_error(error))
            )

    async def card(self, channel_id: str, project_id: str, run_id: str) -> Card | None:
        query = select(cards).where(
            cards.c.channel_id == channel_id,
            cards.c.project_id == project_id,
            cards.c.run_id == run_id,
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return Card(**row._asdict()) if row is not None else None

    async def dirty_cards(self, channel_id: str) -> list[tuple[Card, RunSummary, int]]:
        """Cards (of unpaused subscriptions) whose run's summary moved past what they show."""
        query = (
            select(cards, runs.c.summary, runs.c.version)
            .join(
                runs, and_(runs.c.project_id == cards.c.project_id, runs.c.run_id == cards.c.run_id)
            )
            .join(
                subscriptions,
                and_(
                    subscriptions.c.channel_id == cards.c.channel_id,
                    subscriptions.c.project_id == cards.c.project_id,
                ),
            )
            .where(
                cards.c.channel_id == channel_id,
                subscriptions.c.paused_reason.is_(None),
                runs.c.version > cards.c.rendered_version,
            )
            .order_by(cards.c.project_id, cards.c.run_id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (
                Card(row.channel_id, row.project_id, row.run_id, row.ts, row.rendered_version),
                RunSummary.model_validate_json(row.summary),
                row.version,
            )
            for row in rows
        ]

    async def mark_card_rendered(self, card: Card, version: int) -> None:
        """Never moves backwards, so a slow edit finishing late cannot hide a newer change."""
        async with self._write() as conn:
            await conn.execute(
                update(cards)
                .where(
                    cards.c.channel_id == card.channel_id,
                    cards.c.project_id == card.project_id,
                    cards.c.run_id == card.run_id,
                    cards.c.rendered_version < version,
                )
                .values(rendered_version=version)
            )

    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None:
        query = select(runs.c.summary, runs.c.version).where(
            runs.c.project_id == project_id, runs.c.run_id == run_id
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return (RunSummary.model_validate_json(row.summary), row.version) if row else None

    async def sent_count(self, channel_id: str | None = None) -> int:
        query = select(func.count()).select_from(outbox).where(outbox.c.state == SENT)
        if channel_id is not None:
            query = query.where(outbox.c.channel_id == channel_id)
        async with self._read() as conn:
            return int(await conn.scalar(query) or 0)
