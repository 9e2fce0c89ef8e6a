"""The store's tables and their versioned migrations (SQLAlchemy Core, SQLite and PostgreSQL).

    schema_version  one row: the schema the data is in
    subscriptions   (channel_id, project_id): who watches what, and how
    projects        per project: the last snapshot and the outage bookkeeping
    runs            (project_id, run_id): the run's latest summary and its `version`
    outbox          one row per (channel, event key): what is owed to, or was posted in, a channel
    cards           (channel_id, project_id, run_id): the run's top-level message in a channel

Outbox `state`: `pending` → `attempting` (an attempt started, its outcome unknown) → `sent`;
`attempting` → `pending` on a retry; `abandoned` when the channel unsubscribed during an attempt
(kept, like `sent`, because the message may have been posted). UNIQUE(channel_id, event_key)
is what makes every event reach a channel at most once, across restarts and racing pollers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.types import TypeDecorator

from bot.errors import ConfigError

PENDING = "pending"
ATTEMPTING = "attempting"
SENT = "sent"
ABANDONED = "abandoned"
OPEN_STATES = (PENDING, ATTEMPTING)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on both dialects (SQLite keeps no zone, so it stores UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("id = 1", name="schema_version_one_row"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("channel_id", String, primary_key=True),
    Column("project_id", String, primary_key=True),
    Column("added_by", String, nullable=False),
    Column("mode", String, nullable=False),
    Column("paused_reason", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("needs_start", Boolean, nullable=False),
    Index("subscriptions_project", "project_id"),
)

projects = Table(
    "projects",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("snapshot", Text),  # Snapshot.model_dump_json()
    Column("failing_since", UtcDateTime),
    Column("unreachable_notified", Boolean, nullable=False),
    Column("auth_notified", Boolean, nullable=False),
    Column("last_error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column(
        "project_id",
        String,
        ForeignKey("projects.project_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("run_id", String, primary_key=True),
    Column("summary", Text, nullable=False),  # RunSummary.model_dump_json()
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String, nullable=False),
    Column("project_id", String, nullable=False),
    Column("run_id", String),
    Column("event_key", Text, nullable=False),
    Column("kind", String, nullable=False),
    Column("event", Text, nullable=False),  # Event.model_dump_json()
    Column("state", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("ts", String),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    UniqueConstraint("channel_id", "event_key", name="outbox_once_per_channel"),
    Index("outbox_work", "channel_id", "project_id", "state"),
    # AUTOINCREMENT: a deleted row's id is never reused, so a stale id held by a delivery
    # worker can never point at another row.
    sqlite_autoincrement=True,
)

cards = Table(
    "cards",
    metadata,
    Column("channel_id", String, primary_key=True),
    Column("project_id", String, primary_key=True),
    Column("run_id", String, primary_key=True),
    Column("ts", String, nullable=False),
    Column("rendered_version", Integer, nullable=False),
)


def _create_v1(conn: Connection) -> None:
    # While v1 is the latest schema the current tables are v1; once a table changes, freeze
    # its v1 definition here so an empty database still goes through every step.
    metadata.create_all(conn, tables=[subscriptions, projects, runs, outbox, cards])


MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1]
"""`MIGRATIONS[n]` takes a database from version n to n + 1; append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)

_LOCK_KEY = 0x656F6E626F74  # "eonbot": serialises migrations of processes starting together


def migrate(conn: Connection) -> None:
    """Bring the database to SCHEMA_VERSION inside the caller's transaction; refuse a newer one.

    A newer schema means a newer eon-bot wrote it: running old code on it could lose data.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(select(schema_version.c.version)).scalar_one_or_none()
    current = found or 0
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"The database's schema is version {current}, newer than this eon-bot knows "
            f"({SCHEMA_VERSION}): a newer eon-bot wrote it. Upgrade eon-bot, or point "
            "DATABASE_URL at another database."
        )
    for step in MIGRATIONS[current:]:
        step(conn)
    if found is None:
        conn.execute(insert(schema_version).values(id=1, version=SCHEMA_VERSION))
    elif current < SCHEMA_VERSION:
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION))
