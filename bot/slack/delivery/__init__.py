"""Outbox to Slack: in order per channel, each notification once, the run cards kept current.

Three parts, each with one reason to change, put together by `Delivery` (`drain`):
- `scheduler`: which channel drains when (wakes, delivery leases, when each may go next);
- `poster`: each row posted exactly once, also across crashes and replicas;
- `cards`: the run cards' edits within Slack's budget, and their permalinks;
`digests`: each channel's daily digest queued when due, once;
and `verdicts`: the one decision a failed attempt leads to (wait, pause the channel, stop).
"""

from bot.slack.delivery.cards import (
    CARD_EDIT_GAP_MAX_S,
    CARD_EDITS_PER_MINUTE,
    CARD_SHOWN_FOR_S,
    card_edit_gap,
)
from bot.slack.delivery.digests import Digester
from bot.slack.delivery.drain import Delivery, DeliveryStore
from bot.slack.delivery.verdicts import MAX_ATTEMPTS

__all__ = [
    "CARD_EDITS_PER_MINUTE",
    "CARD_EDIT_GAP_MAX_S",
    "CARD_SHOWN_FOR_S",
    "MAX_ATTEMPTS",
    "Delivery",
    "DeliveryStore",
    "Digester",
    "card_edit_gap",
]
