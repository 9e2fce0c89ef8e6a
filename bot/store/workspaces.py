"""v12: every row belongs to a workspace. The tables of `TEAM_TABLES` get `team_id` ('' in the
rows they had), and their keys lead with it; single mode adopts the '' rows at start (`adopt`).

PostgreSQL alters each table in place (its ids' sequences untouched); SQLite, which cannot
change a key in place, copies each table into one built as `schema` says, and keeps its
AUTOINCREMENT counter, so an id once used is never used again. A later step that changes one
of these tables must freeze what this step builds (`frozen`), as v12 froze what came before.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, Table, Update, text, update
from sqlalchemy.schema import CreateTable

from bot.store import schema

TEAM_TABLES: tuple[Table, ...] = (
    schema.subscriptions,
    schema.ei_keys,
    schema.actions,
    schema.outbox,
    schema.cards,
    schema.alerts,
    schema.bells,
    schema.digests,
)

# PostgreSQL: each table's key as earlier steps named it, remade with the workspace first.
_PRIMARY = {
    "subscriptions": ("channel_id", "project_id"),
    "ei_keys": ("project_id",),
    "cards": ("channel_id", "project_id", "run_hash"),
    "digests": ("channel_id",),
}
_UNIQUE = {
    "actions": ("actions_once", ("project_id", "run_hash", "action", "trial_hash")),
    "alerts": ("alerts_once", ("channel_id", "project_id", "rule_hash")),
    "bells": ("bells_once", ("project_id", "run_hash", "user_id")),
}
_OUTBOX_KEY = "outbox_once_per_channel_hash"  # a unique index since v2


def workspaces(conn: Connection) -> None:
    """v11 → v12."""
    if conn.dialect.name == "postgresql":
        _alter_postgres(conn)
    else:
        for table in TEAM_TABLES:
            _rebuild_sqlite(conn, table)


def _alter_postgres(conn: Connection) -> None:
    for table in TEAM_TABLES:
        name = table.name
        conn.execute(text(f"ALTER TABLE {name} ADD COLUMN team_id VARCHAR NOT NULL DEFAULT ''"))
        conn.execute(text(f"ALTER TABLE {name} ALTER COLUMN team_id DROP DEFAULT"))
        if name in _PRIMARY:
            columns = ", ".join(("team_id", *_PRIMARY[name]))
            conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_pkey"))
            conn.execute(text(f"ALTER TABLE {name} ADD PRIMARY KEY ({columns})"))
        if name in _UNIQUE:
            key, rest = _UNIQUE[name]
            columns = ", ".join(("team_id", *rest))
            conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {key}"))
            conn.execute(text(f"ALTER TABLE {name} ADD CONSTRAINT {key} UNIQUE ({columns})"))
    conn.execute(text(f"DROP INDEX {_OUTBOX_KEY}"))
    conn.execute(
        text(f"CREATE UNIQUE INDEX {_OUTBOX_KEY} ON outbox (team_id, channel_id, event_hash)")
    )


def _rebuild_sqlite(conn: Connection, table: Table) -> None:
    name, copy = table.name, f"{table.name}__v12"
    built = table.to_metadata(MetaData(), name=copy)
    conn.execute(CreateTable(built))  # its key and unique constraints; indexes after the rename
    columns = ", ".join(c.name for c in table.columns if c.name != "team_id")
    conn.execute(
        text(f"INSERT INTO {copy} ({columns}, team_id) SELECT {columns}, '' FROM {name}")  # noqa: S608
    )
    counter = table.dialect_options["sqlite"]["autoincrement"]
    seq = _sequence(conn, name) if counter else None
    conn.execute(text(f"DROP TABLE {name}"))
    conn.execute(text(f"ALTER TABLE {copy} RENAME TO {name}"))
    for index in table.indexes:
        index.create(conn)
    if seq is not None:
        conn.execute(
            text("DELETE FROM sqlite_sequence WHERE name IN (:a, :b)"), {"a": name, "b": copy}
        )
        conn.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:n, :s)"), {"n": name, "s": seq}
        )


def _sequence(conn: Connection, name: str) -> int:
    found = conn.execute(
        text("SELECT seq FROM sqlite_sequence WHERE name = :n"), {"n": name}
    ).scalar()
    return int(found or 0)


def adoptions(team_id: str) -> list[Update]:
    """Single mode at start: the rows of no workspace ('', from before v12 or written before
    `auth.test` answered) become the token's workspace's, one UPDATE per table; running it
    again changes nothing."""
    return [
        update(table).where(table.c.team_id == "").values(team_id=team_id) for table in TEAM_TABLES
    ]
