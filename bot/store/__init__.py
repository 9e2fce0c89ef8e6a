"""The database: subscriptions, snapshots, the outbox and run cards (SQLAlchemy async).

Callers import from here: `from bot.store import Store, Subscription, OutboxRow, Card`.
"""

from bot.core.outage import Outage
from bot.store.mirror import Subscription
from bot.store.outbox import Card, OutboxRow
from bot.store.store import Store
from bot.store.url import redact_url

__all__ = ["Card", "Outage", "OutboxRow", "Store", "Subscription", "redact_url"]
