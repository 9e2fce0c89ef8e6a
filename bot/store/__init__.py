"""The database: subscriptions, snapshots, the outbox, run cards and leases (SQLAlchemy async).

Callers outside the store import from here only (`lint-imports` checks it):
`from bot.store import Store, Subscription, OutboxRow, Card, LeaseLost, POLL`.
"""

from bot.core.outage import Outage
from bot.store.actions import ActionRecord
from bot.store.alerts import Added as AlertAdded
from bot.store.alerts import StoredAlert
from bot.store.bells import Rang as BellRang
from bot.store.bells import person_address, person_of
from bot.store.cards import Card
from bot.store.ei_keys import SealedKey
from bot.store.installations import SealedInstallation
from bot.store.leases import LeaseLost, TeamChannel
from bot.store.mirror import Subscription, project_order
from bot.store.outbox import OutboxRow
from bot.store.schema import CLAIMED, DELIVER, DONE, POLL, REPLICA, STARTED, UNKNOWN
from bot.store.store import Store
from bot.store.trouble import blame, database_away, keep_doing
from bot.store.url import parse as parse_url
from bot.store.url import redact_url

__all__ = [
    "CLAIMED",
    "DONE",
    "STARTED",
    "UNKNOWN",
    "ActionRecord",
    "AlertAdded",
    "BellRang",
    "StoredAlert",
    "DELIVER",
    "POLL",
    "REPLICA",
    "Card",
    "LeaseLost",
    "Outage",
    "OutboxRow",
    "SealedInstallation",
    "SealedKey",
    "Store",
    "Subscription",
    "TeamChannel",
    "blame",
    "database_away",
    "keep_doing",
    "parse_url",
    "person_address",
    "person_of",
    "project_order",
    "redact_url",
]
