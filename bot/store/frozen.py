"""The tables as the steps before v12 made them (`migrations`): each step creates what it
created then, whatever `schema` says now (v12 gave these tables a workspace)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.store.schema import UtcDateTime

frozen = MetaData()

EI_KEYS_V3 = Table(  # as v3 made it
    "ei_keys",
    frozen,
    Column("project_id", String, primary_key=True),
    Column("sealed", Text, nullable=False),  # Fernet token under SECRET_KEY; never the key itself
    Column("role", String),  # what Edge Impulse said the key may do (`admin`, `readonly`, …)
    Column("added_by", String, nullable=False),  # Slack user id
    Column("updated_at", UtcDateTime, nullable=False),
)


ALERTS_V9 = Table(  # as v9 made it
    "alerts",
    frozen,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order `list` numbers
    Column("channel_id", String, nullable=False),
    Column("project_id", String, nullable=False),
    Column("rule", Text, nullable=False),  # Rule.text: "accuracy>=92% latency<=50ms"
    Column("rule_hash", String(64), nullable=False),  # digest(rule)
    Column("added_by", String, nullable=False),  # Slack user id
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel_id", "project_id", "rule_hash", name="alerts_once"),
    Index("alerts_project", "project_id"),
    sqlite_autoincrement=True,
)


BELLS_V10 = Table(  # as v10 made it
    "bells",
    frozen,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order the card names
    Column("project_id", String, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("run_hash", String(64), nullable=False),  # digest(run_id)
    Column("user_id", String, nullable=False),  # Slack user id
    Column("channel_id", String, nullable=False),  # where the card's button was clicked
    Column("rung", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "run_hash", "user_id", name="bells_once"),
    Index("bells_user", "user_id", "project_id"),
    sqlite_autoincrement=True,
)


DIGESTS_V11 = Table(  # as v11 made it
    "digests",
    frozen,
    Column("channel_id", String, primary_key=True),
    Column("at_minute", Integer, nullable=False),  # minutes after midnight, DIGEST_TZ
    Column("set_by", String, nullable=False),  # Slack user id
    Column("last_day", String(10)),  # "2026-12-07" (DIGEST_TZ); None: none queued yet
)
