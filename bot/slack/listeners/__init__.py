"""Everything the bolt app listens to, one module per listener (as bolt's starter app does).

    eon                 the `/eon` slash command (eon_parse: text → command, pure;
                        eon_answers: command → acknowledgement, from the store alone;
                        eon_key: `/eon key`, its form and the form's submission;
                        eon_alert: `/eon alert`, a channel's threshold alerts)
    app_home            the Home tab, published when opened (home_view: what it shows, pure)
    studio_link         the "Open in Studio" button's click
    run_buttons         clicks on "Stop the run", "Extend the search", "Use this trial"
    bell_buttons        clicks on "🔔 Tell me when it ends" and "🔕 Take me off"
    member_joined       the bot invited back into a paused channel
    channel_unarchive   a paused, archived channel unarchived

Each module has `register(app, deps)`; `register_all` is what `build()` calls.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.listeners import (
    app_home,
    bell_buttons,
    channel_unarchive,
    eon,
    eon_key,
    member_joined,
    run_buttons,
    studio_link,
)
from bot.slack.listeners.deps import Deps

LISTENERS = (
    eon,
    eon_key,
    app_home,
    studio_link,
    run_buttons,
    bell_buttons,
    member_joined,
    channel_unarchive,
)


def register_all(app: AsyncApp, deps: Deps) -> None:
    for listener in LISTENERS:
        listener.register(app, deps)


__all__ = ["Deps", "register_all"]
