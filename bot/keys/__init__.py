"""Edge Impulse keys added from Slack (`/eon key`): sealed under `SECRET_KEY` (`box`), kept in
the store, and the one rule for which key a poll uses (`ring`)."""

from bot.keys.box import SECRET_KEY_HOWTO, TOKEN_INFO, KeyBox, Unreadable, mask
from bot.keys.ring import KeyRing, KeySource

__all__ = [
    "SECRET_KEY_HOWTO",
    "TOKEN_INFO",
    "KeyBox",
    "KeyRing",
    "KeySource",
    "Unreadable",
    "mask",
]
