""" "🔔 Tell me when it ends" (pure): the run card's button, the card's line naming who asked,
the clicker's ephemeral answers, and the end as a direct message.

The button has no confirm dialog (it acts on nothing but the clicker's own inbox), and its
value names the project and the run as the acting buttons' do (`actions.parse_value`). The
direct message is the channel's end in words, its metadata the same (`eon_job_finished`, with
the event key its look-up needs), without the buttons that act on the run (a click from a DM
is refused: no channel there watches the project), with a link to the card's thread instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.core.events import Event
from bot.slack.render.actions import MAX_VALUE, mention
from bot.slack.render.blocks import LIMITS, Message, build_message, clip, section_block
from bot.slack.render.events import event_metadata, render_event

BELL_ACTION_ID: Final = "eon_bell"
BELL_OFF_ACTION_ID: Final = "eon_bell_off"
BELL_LABEL: Final = "🔔 Tell me when it ends"
NAMED_UP_TO: Final = 3  # more than this many people are counted, not named

ON_THE_LIST: Final = "🔔 You will get this run's end by direct message."
ALREADY: Final = "🔔 You are already on the list for this run's end (by direct message)."
TAKEN_OFF: Final = "🔕 You are off the list: no direct message about this run's end."
NOT_ON_LIST: Final = "🔕 You were not on the list for this run's end: nothing to take off."
ENDED: Final = "This run has already ended: its end is in the card's thread. Nothing was added."


def bell_value(project_id: str, run_id: str) -> str | None:
    """The buttons' value (project, run), or None when it would not fit Slack's limit."""
    value = json.dumps({"p": project_id, "r": run_id}, separators=(",", ":"))
    return value if len(value) <= MAX_VALUE else None


def bell_button(project_id: str, run_id: str) -> ButtonElement | None:
    """The card's "🔔 Tell me when it ends" button."""
    value = bell_value(project_id, run_id)
    if value is None:
        return None
    return ButtonElement(
        text=clip(BELL_LABEL, LIMITS.button_text), action_id=BELL_ACTION_ID, value=value
    )


def bell_line(user_ids: Sequence[str]) -> str | None:
    """ "🔔 @a, @b will hear when it ends" (up to three named), "🔔 5 people will hear when it
    ends" past that; None when nobody asked."""
    if not user_ids:
        return None
    if len(user_ids) > NAMED_UP_TO:
        return f"🔔 {len(user_ids)} people will hear when it ends"
    return f"🔔 {', '.join(mention(user) for user in user_ids)} will hear when it ends"


def render_already(project_id: str, run_id: str) -> Message:
    """The ephemeral answer to a second click: on the list, and a button to leave it."""
    value = bell_value(project_id, run_id)
    off = (
        ButtonElement(text="🔕 Take me off", action_id=BELL_OFF_ACTION_ID, value=value)
        if value is not None
        else None
    )
    blocks: list[Block | None] = [
        section_block(ALREADY),
        ActionsBlock(elements=[off]) if off is not None else None,
    ]
    return build_message(ALREADY, blocks)


def render_bell_end(end: Event, thread_link: str | None) -> Message:
    """The run's end by direct message: the channel's words and metadata, a link to the card's
    thread (when Slack gave one) instead of the acting buttons."""
    line = str(render_event(end).text)
    if thread_link and thread_link.startswith("https://") and not set("<>| ") & set(thread_link):
        link = f"<{thread_link}|the run's thread>"
        line = f"{line}\n🔔 You asked to hear when it ends. More in {link}."
    else:
        line = f"{line}\n🔔 You asked to hear when it ends."
    return build_message(line, [section_block(line)], event_metadata(end))
