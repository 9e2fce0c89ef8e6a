"""The store's tables and their versioned migrations (SQLAlchemy Core, SQLite and PostgreSQL).

    schema_version  one row: the schema the data is in
    subscriptions   (team_id, channel_id, project_id): who watches what, and how
    projects        per project: the last snapshot (a base and the changes since) and the
                    outage bookkeeping
    runs            (project_id, run_hash): the run's latest summary and its `version`
    outbox          one row per (channel, event hash): what is owed to, or was posted in, a channel
    cards           (channel_id, project_id, run_hash): the run's top-level message in a channel
    leases          (kind, name): which replica polls a project or delivers to a channel
    ei_keys         per project: its Edge Impulse key added with `/eon key`, sealed (`bot.keys`)
    actions         one row per (project, run, action, trial) done from Slack (`actions`)
    project_names   per project: its name from Edge Impulse and when it was asked (`names`)
    alerts          (channel_id, project_id, rule_hash): a channel's threshold alerts (`alerts`)
    bells           (project_id, run_hash, user_id): who asked for a run's end by DM (`bells`)
    digests         per channel: its daily digest's time and the last day queued (`digests`)
    installations   per workspace ("Add to Slack"): its bot token, sealed, and whether it left
    oauth_states    the OAuth flow's states, each good once until it expires (`installations`)

Every table but projects, runs, project_names and leases belongs to a workspace: its `team_id`
(`bot.slack.tokens.workspace_key`) leads its key, since a Slack Connect channel has one id in
two workspaces, and every query on it says which workspace it asks for (tests/test_isolation's
`test_every_query_names_its_workspace` holds it). A project is one, polled once, whoever watches it.

Outbox `state`: `pending` → `attempting` (an attempt started, its outcome unknown) → `sent`;
`attempting` → `pending` on a retry; `abandoned` when the channel unsubscribed during an attempt
(kept, like `sent`, because the message may have been posted). UNIQUE(channel_id, event_hash)
is what makes every event reach a channel at most once, across restarts and racing pollers.
`claimed_by`/`claim_expires`: the replica attempting the row, until when (`bot.service.fleet`).

Ids and names from Edge Impulse can be of any length, and a PostgreSQL btree entry cannot
exceed about 2.7 KB: so keys made of them are indexed by their SHA-256 (`digest`), never by
the raw text, which is kept alongside for reading. Project ids are bounded (`/eon watch`
takes at most 19 digits) and Slack's channel ids are short, so those are indexed as they are.

How each table came to be is in `migrations`: an empty database goes through every step, so
these definitions describe the columns queries use, and PostgreSQL's keys; SQLite keeps v1's
keys on the raw text besides (it cannot drop them in place, and has no key-size limit).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

PENDING = "pending"
ATTEMPTING = "attempting"
SENT = "sent"
ABANDONED = "abandoned"
OPEN_STATES = (PENDING, ATTEMPTING)

POLL = "poll"  # lease kinds: polling a project,
DELIVER = "deliver"  # delivering to a channel,
REPLICA = "replica"  # and a replica's own heartbeat (how many are alive)


def digest(text: str) -> str:
    """The indexed stand-in for an id of any length: 64 hex characters."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


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
    Column("team_id", String, primary_key=True),  # the workspace (v12; `bot.slack.tokens`)
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
    Column("snapshot", Text),  # Snapshot.model_dump_json(), as of its last whole write
    Column("failing_since", UtcDateTime),
    Column("unreachable_notified", Boolean, nullable=False),
    Column("auth_notified", Boolean, nullable=False),
    Column("last_error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("snapshot_patch", Text),  # the changes to `snapshot` since (`bot.store.snapshots`)
    Column("snapshot_tag", String(64)),  # digest of the snapshot the two make
)

runs = Table(
    "runs",
    metadata,
    Column("project_id", String, ForeignKey("projects.project_id", ondelete="CASCADE")),
    Column("run_id", Text, nullable=False),
    Column("run_hash", String(64), nullable=False),  # digest(run_id)
    Column("summary", Text, nullable=False),  # RunSummary.model_dump_json()
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished", Boolean),  # the summary's: an ended run is pruned (`retention`)
    PrimaryKeyConstraint("project_id", "run_hash"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String, nullable=False),
    Column("project_id", String, nullable=False),
    Column("run_id", Text),
    Column("event_key", Text, nullable=False),
    Column("event_hash", String(64), nullable=False),  # digest(event_key)
    Column("kind", String, nullable=False),
    Column("event", Text, nullable=False),  # Event.model_dump_json()
    Column("state", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("ts", String),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("claimed_by", String),
    Column("claim_expires", UtcDateTime),
    Column("team_id", String, nullable=False),  # the workspace (v12; `bot.slack.tokens`)
    UniqueConstraint("team_id", "channel_id", "event_hash", name="outbox_once_per_channel_hash"),
    Index("outbox_work", "channel_id", "project_id", "state"),
    sqlite_autoincrement=True,
)

cards = Table(
    "cards",
    metadata,
    Column("channel_id", String),
    Column("project_id", String),
    Column("run_id", Text, nullable=False),
    Column("run_hash", String(64), nullable=False),  # digest(run_id)
    Column("ts", String, nullable=False),
    Column("rendered_version", Integer, nullable=False),
    Column("team_id", String, nullable=False),  # the workspace (v12; `bot.slack.tokens`)
    PrimaryKeyConstraint("team_id", "channel_id", "project_id", "run_hash"),
)

leases = Table(
    "leases",
    metadata,
    Column("kind", String, primary_key=True),  # POLL | DELIVER | REPLICA
    Column("name", String, primary_key=True),  # project id | channel id | replica id
    Column("owner", String, nullable=False),  # the replica holding it
    Column("expires_at", UtcDateTime, nullable=False),
)

ei_keys = Table(
    "ei_keys",
    metadata,
    Column("team_id", String, primary_key=True),  # the workspace that added it (v12)
    Column("project_id", String, primary_key=True),
    Column("sealed", Text, nullable=False),  # Fernet token under SECRET_KEY; never the key itself
    Column("role", String),  # what Edge Impulse said the key may do (`admin`, `readonly`, …)
    Column("added_by", String, nullable=False),  # Slack user id
    Column("updated_at", UtcDateTime, nullable=False),
)

# Actions taken from Slack's buttons (`bot.store.actions`): one row per (project, run, action,
# trial), so a double click, two copies of a message or two replicas act once.
CLAIMED = "claimed"  # recorded, its Edge Impulse call under way (until `claim_expires`)
STARTED = "started"  # Edge Impulse did it; a job it started is followed until it ends
DONE = "done"  # nothing more to follow
UNKNOWN = "unknown"  # the call's outcome is not known (no answer; or a crash before it)

actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("run_hash", String(64), nullable=False),  # digest(run_id)
    Column("action", String, nullable=False),  # stop | extend | use
    Column("trial_id", Text, nullable=False),  # "" unless `use`
    Column("trial_hash", String(64), nullable=False),  # digest(trial_id)
    Column("trial_name", Text),
    Column("target", Text, nullable=False),  # the job or trial the call names
    Column("channel_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("state", String, nullable=False),
    Column("job_id", String),  # the job acted on (stop) or started (extend, use)
    Column("detail", Text),  # what went wrong, or how the job ended
    Column("created_at", UtcDateTime, nullable=False),
    Column("claim_expires", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("claimed_by", String),  # the replica making the call (v8; None in older rows)
    Column("team_id", String, nullable=False),  # the workspace (v12; `bot.slack.tokens`)
    UniqueConstraint(
        "team_id", "project_id", "run_hash", "action", "trial_hash", name="actions_once"
    ),
    Index("actions_open", "state"),
    sqlite_autoincrement=True,
)

# Edge Impulse's name of each project (`bot.store.names`): written when it is fetched (daily at
# most), apart from the `projects` row that every changed poll rewrites.
project_names = Table(
    "project_names",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("name", Text),  # None: not known (the key may not read it, or it was never asked)
    Column("fetched_at", UtcDateTime, nullable=False),  # when it was last asked for
)

# A channel's threshold alerts on a project (`bot.store.alerts`, `bot.core.rules`): the rule kept
# as its canonical text, read back through the grammar; once per alert and run is the outbox's.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order `list` numbers
    Column("channel_id", String, nullable=False),
    Column("project_id", String, nullable=False),
    Column("rule", Text, nullable=False),  # Rule.text: "accuracy>=92% latency<=50ms"
    Column("rule_hash", String(64), nullable=False),  # digest(rule)
    Column("added_by", String, nullable=False),  # Slack user id
    Column("created_at", UtcDateTime, nullable=False),
    Column("team_id", String, nullable=False),  # the workspace (v12; `bot.slack.tokens`)
    UniqueConstraint("team_id", "channel_id", "project_id", "rule_hash", name="alerts_once"),
    Index("alerts_project", "project_id"),
    sqlite_autoincrement=True,
)

# "🔔 Tell me when it ends" (`bot.store.bells`): a person's request for a run's end by direct
# message; `rung` once that end is queued to them (an outbox row addressed to `@` + user_id).
bells = Table(
    "bells",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order the card names
    Column("project_id", String, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("run_hash", String(64), nullable=False),  # digest(run_id)
    Column("user_id", String, nullable=False),  # Slack user id
    Column("channel_id", String, nullable=False),  # where the card's button was clicked
    Column("rung", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("team_id", String, nullable=False),  # the workspace (v12; `bot.slack.tokens`)
    UniqueConstraint("team_id", "project_id", "run_hash", "user_id", name="bells_once"),
    Index("bells_user", "user_id", "project_id"),
    sqlite_autoincrement=True,
)

# A channel's daily digest (`bot.store.digests`): its minute of the day (in DIGEST_TZ), and the
# last day one was queued, which the replica that moves it forward alone queues.
digests = Table(
    "digests",
    metadata,
    Column("team_id", String, primary_key=True),  # the workspace (v12)
    Column("channel_id", String, primary_key=True),
    Column("at_minute", Integer, nullable=False),  # minutes after midnight, DIGEST_TZ
    Column("set_by", String, nullable=False),  # Slack user id
    Column("last_day", String(10)),  # "2026-12-07" (DIGEST_TZ); None: none queued yet
)

# Each workspace that installed the app ("Add to Slack", `bot.store.installations`): the
# workspace key (a team id, or an org's enterprise id for an org-wide install), the bot token
# sealed under SECRET_KEY (`bot.keys`), and when it left (`revoked_at`; its rows are deleted a
# grace period after, `bot.slack.install.GRACE`).
installations = Table(
    "installations",
    metadata,
    Column("team_id", String, primary_key=True),  # T…, or E… for an org-wide install
    Column("enterprise_id", String),  # the Enterprise Grid org, if any
    Column("team_name", Text),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("app_id", String),
    Column("bot_id", String),
    Column("bot_user_id", String, nullable=False),
    Column("scopes", Text, nullable=False),  # comma-separated, as oauth.v2.access says them
    Column("installed_by", String),  # the Slack user who installed it
    Column("installed_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),  # None: installed; else uninstalled or token revoked
    Column("sealed_token", Text, nullable=False),  # Fernet token under SECRET_KEY
)

# The OAuth flow's `state`s, each good once until it expires: kept as their digest, so the
# table holds nothing a visitor could replay.
oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state_hash", String(64), primary_key=True),  # digest(state)
    Column("expires_at", UtcDateTime, nullable=False),
)
