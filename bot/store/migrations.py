"""How the store's tables came to be: `MIGRATIONS[n]` takes a database from version n to n + 1.

An empty database goes through every step, so a fresh database and an upgraded one are built
the same way and the tests of one are tests of the other. Steps are frozen once released:
append a step, never edit one. `schema` holds the tables as queries see them now.

    v1  subscriptions, projects, runs, outbox, cards, keyed by raw ids
    v2  keys made of Edge Impulse ids become SHA-256 digests (a PostgreSQL btree entry cannot
        exceed ~2.7 KB, and one over it broke the project's every poll); outbox rows get a
        claim (owner, expiry); runs say whether they ended (for retention); the `leases`
        table lets replicas share the work
    v3  `ei_keys`: Edge Impulse keys added from Slack, sealed under SECRET_KEY
    v4  the `actions` table: what was done from Slack's buttons, once per (project, run,
        action, trial)
    v5  PostgreSQL: the hot tables (projects, runs, leases) vacuumed by a fixed count of dead
        rows, with room in each page for updates (`_hot_tables`); SQLite unchanged
    v6  `project_names`: each project's name from Edge Impulse, for messages
    v7  a project's snapshot is kept as a base and the changes since (`snapshot_patch`,
        `snapshot_tag`; `bot.store.snapshots`); rows from before read as a base alone
    v8  `actions.claimed_by`: the replica that claimed a click, so a claim whose process died
        is told at once, not only when its claim expires
    v9  `alerts`: channels' threshold alerts (`/eon alert`)
    v10  `bells`: who asked for a run's end by direct message ("🔔 Tell me when it ends")
    v11  `digests`: channels' daily digests (`/eon digest`)
    v12  every row belongs to a workspace: `team_id` leads the keys of subscriptions, ei_keys,
        actions, outbox, cards, alerts, bells and digests (`workspaces`)
    v13  `installations` and `oauth_states`: the workspaces that installed the app ("Add to
         Slack"), their bot tokens sealed under SECRET_KEY, and the OAuth flow's states
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
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

from bot.errors import ConfigError
from bot.store.frozen import ALERTS_V9, BELLS_V10, DIGESTS_V11, EI_KEYS_V3
from bot.store.schema import (
    UtcDateTime,
    digest,
    installations,
    leases,
    oauth_states,
    project_names,
    schema_version,
)
from bot.store.workspaces import workspaces

_v1 = MetaData()
_V1_TABLES = [
    Table(
        "subscriptions",
        _v1,
        Column("channel_id", String, primary_key=True),
        Column("project_id", String, primary_key=True),
        Column("added_by", String, nullable=False),
        Column("mode", String, nullable=False),
        Column("paused_reason", Text),
        Column("created_at", UtcDateTime, nullable=False),
        Column("needs_start", Boolean, nullable=False),
        Index("subscriptions_project", "project_id"),
    ),
    Table(
        "projects",
        _v1,
        Column("project_id", String, primary_key=True),
        Column("snapshot", Text),
        Column("failing_since", UtcDateTime),
        Column("unreachable_notified", Boolean, nullable=False),
        Column("auth_notified", Boolean, nullable=False),
        Column("last_error", Text),
        Column("updated_at", UtcDateTime, nullable=False),
    ),
    Table(
        "runs",
        _v1,
        Column(
            "project_id",
            String,
            ForeignKey("projects.project_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("run_id", String, primary_key=True),
        Column("summary", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    ),
    Table(
        "outbox",
        _v1,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("channel_id", String, nullable=False),
        Column("project_id", String, nullable=False),
        Column("run_id", String),
        Column("event_key", Text, nullable=False),
        Column("kind", String, nullable=False),
        Column("event", Text, nullable=False),
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
    ),
    Table(
        "cards",
        _v1,
        Column("channel_id", String, primary_key=True),
        Column("project_id", String, primary_key=True),
        Column("run_id", String, primary_key=True),
        Column("ts", String, nullable=False),
        Column("rendered_version", Integer, nullable=False),
    ),
]


def _create_v1(conn: Connection) -> None:
    _v1.create_all(conn, tables=_V1_TABLES)


def _add_column(conn: Connection, table: str, column: str, kind: object) -> None:
    compiled = kind.compile(dialect=conn.dialect)  # type: ignore[attr-defined]
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {compiled}"))


def _fill_digest(conn: Connection, table: str, source: str, target: str, keys: list[str]) -> None:
    """`target` = digest(`source`) for every row, found by `keys` (v1's primary key)."""
    rows = conn.execute(text(f"SELECT {', '.join(keys)}, {source} FROM {table}")).all()
    if not rows:
        return
    where = " AND ".join(f"{key} = :{key}" for key in keys)
    conn.execute(
        text(f"UPDATE {table} SET {target} = :hash WHERE {where}"),
        [{**dict(zip(keys, row[:-1], strict=True)), "hash": digest(row[-1])} for row in rows],
    )


def _hashed_keys_and_leases(conn: Connection) -> None:
    """v1 → v2. On SQLite v1's raw-text keys stay (it cannot drop them in place; they hold
    nothing the digests do not); on PostgreSQL the digests replace them."""
    postgres = conn.dialect.name == "postgresql"
    _add_column(conn, "outbox", "event_hash", String(64))
    _add_column(conn, "outbox", "claimed_by", String())
    _add_column(conn, "outbox", "claim_expires", UtcDateTime())
    _add_column(conn, "runs", "run_hash", String(64))
    _add_column(conn, "cards", "run_hash", String(64))
    _add_column(conn, "runs", "finished", Boolean())
    _fill_digest(conn, "outbox", "event_key", "event_hash", ["id"])
    _fill_digest(conn, "runs", "run_id", "run_hash", ["project_id", "run_id"])
    _fill_digest(conn, "cards", "run_id", "run_hash", ["channel_id", "project_id", "run_id"])
    if postgres:
        for table, column in (
            ("outbox", "event_hash"),
            ("runs", "run_hash"),
            ("cards", "run_hash"),
        ):
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL"))
        conn.execute(text("ALTER TABLE outbox DROP CONSTRAINT outbox_once_per_channel"))
        conn.execute(text("ALTER TABLE runs DROP CONSTRAINT runs_pkey"))
        conn.execute(text("ALTER TABLE cards DROP CONSTRAINT cards_pkey"))
    conn.execute(
        text("CREATE UNIQUE INDEX outbox_once_per_channel_hash ON outbox (channel_id, event_hash)")
    )
    conn.execute(text("CREATE UNIQUE INDEX runs_key ON runs (project_id, run_hash)"))
    conn.execute(text("CREATE UNIQUE INDEX cards_key ON cards (channel_id, project_id, run_hash)"))
    if postgres:
        conn.execute(
            text("ALTER TABLE runs ADD CONSTRAINT runs_pkey PRIMARY KEY USING INDEX runs_key")
        )
        conn.execute(
            text("ALTER TABLE cards ADD CONSTRAINT cards_pkey PRIMARY KEY USING INDEX cards_key")
        )
    leases.create(conn)


def _ei_keys(conn: Connection) -> None:
    """v2 → v3."""
    EI_KEYS_V3.create(conn)


_v4 = MetaData()
_V4_ACTIONS = Table(  # as v4 made it: `schema.actions` has grown since (v8)
    "actions",
    _v4,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("run_hash", String(64), nullable=False),
    Column("action", String, nullable=False),
    Column("trial_id", Text, nullable=False),
    Column("trial_hash", String(64), nullable=False),
    Column("trial_name", Text),
    Column("target", Text, nullable=False),
    Column("channel_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("state", String, nullable=False),
    Column("job_id", String),
    Column("detail", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("claim_expires", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "run_hash", "action", "trial_hash", name="actions_once"),
    Index("actions_open", "state"),
    sqlite_autoincrement=True,
)


def _actions(conn: Connection) -> None:
    """v3 → v4."""
    _V4_ACTIONS.create(conn)


# PostgreSQL storage settings of the tables every poll or tick updates (`_hot_tables`).
HOT_TABLES = ("projects", "runs", "leases")
HOT_TABLE_SETTINGS = (
    "fillfactor = 50",  # room in each page, so an update stays there (HOT, no index entry)
    "autovacuum_vacuum_scale_factor = 0",  # vacuum after a fixed number of dead rows, not
    "autovacuum_vacuum_threshold = 200",  # after a fifth of a table that is only tens of rows
    "autovacuum_vacuum_cost_delay = 0",  # small tables: vacuum them in one go
    "toast.autovacuum_vacuum_scale_factor = 0",  # the snapshots and summaries live in TOAST
    "toast.autovacuum_vacuum_threshold = 200",
    "toast.autovacuum_vacuum_cost_delay = 0",
)


def _hot_tables(conn: Connection) -> None:
    """v4 → v5, PostgreSQL only: the tables rewritten at every changed poll (a project's
    snapshot, its run's summary) or every tick (leases) hold tens of live rows and make
    thousands of dead ones a minute. With PostgreSQL's defaults autovacuum waits for a fifth
    of a table to be dead, counted against a table that has grown, so it grows on; with
    these it is vacuumed at each autovacuum round and reuses its space, staying near its
    live size. SQLite rewrites a row in place: nothing to do there."""
    if conn.dialect.name != "postgresql":
        return
    for table in HOT_TABLES:
        conn.execute(text(f"ALTER TABLE {table} SET ({', '.join(HOT_TABLE_SETTINGS)})"))


def _project_names(conn: Connection) -> None:
    """v5 → v6."""
    project_names.create(conn)


def _snapshot_patches(conn: Connection) -> None:
    """v6 → v7: a changed poll writes what changed in the snapshot, not all of it (v5's
    settings alone left `projects` holding a minute of whole snapshots in TOAST between two
    autovacuum rounds, growing with the runs)."""
    _add_column(conn, "projects", "snapshot_patch", Text())
    _add_column(conn, "projects", "snapshot_tag", String(64))


def _action_owners(conn: Connection) -> None:
    """v7 → v8: who holds a claim (rows from before have none: they wait for their expiry)."""
    _add_column(conn, "actions", "claimed_by", String())


def _alerts(conn: Connection) -> None:
    """v8 → v9."""
    ALERTS_V9.create(conn)


def _bells(conn: Connection) -> None:
    """v9 → v10."""
    BELLS_V10.create(conn)


def _digests(conn: Connection) -> None:
    """v10 → v11."""
    DIGESTS_V11.create(conn)


def _installations(conn: Connection) -> None:
    """v12 → v13."""
    installations.create(conn)
    oauth_states.create(conn)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _create_v1,
    _hashed_keys_and_leases,
    _ei_keys,
    _actions,
    _hot_tables,
    _project_names,
    _snapshot_patches,
    _action_owners,
    _alerts,
    _bells,
    _digests,
    workspaces,
    _installations,
]
"""`MIGRATIONS[n]` takes a database from version n to n + 1; append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)

_LOCK_KEY = 0x656F6E626F74  # "eonbot": serialises migrations of processes starting together


def migrate(conn: Connection, *, upto: int = SCHEMA_VERSION) -> None:
    """Bring the database to `upto` (SCHEMA_VERSION; less only in tests of a step) inside the
    caller's transaction; refuse a newer one: a newer eon-bot wrote it, and running old code on
    it could lose data."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        conn.execute(text("SET LOCAL statement_timeout = 0"))  # a big upgrade may take long
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(select(schema_version.c.version)).scalar_one_or_none()
    current = found or 0
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"The database's schema is version {current}, newer than this eon-bot knows "
            f"({SCHEMA_VERSION}): a newer eon-bot wrote it. Upgrade eon-bot, or point "
            "DATABASE_URL at another database."
        )
    for step in MIGRATIONS[current:upto]:
        step(conn)
    if found is None:
        conn.execute(insert(schema_version).values(id=1, version=max(current, upto)))
    elif current < upto:
        conn.execute(update(schema_version).values(version=upto))
