"""The `/eon key PROJECT_ID` form (a modal): one input for the project's Edge Impulse key, with
where to find it and what it needs (pure). The Home tab's "Add/replace key" buttons open it too.

What the form carries back (`private_metadata`) is the project and where to tell the outcome;
never a key. The key's input is one line, and its value comes back only in the submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from bot.key_shape import KEY_MAX_CHARS

KEY_FORM_CALLBACK: Final = "eon_key_form"
KEY_BLOCK: Final = "ei_key"  # the input block: where a refusal is shown (`response_action: errors`)
KEY_ACTION: Final = "ei_key_value"
OPEN_KEY_FORM_ACTION: Final = "eon_key_open"  # the Home tab's buttons; the value is the project id


@dataclass(frozen=True, slots=True)
class FormContext:
    """Carried through the modal: which project, and the channel to tell (None: from Home)."""

    project_id: str
    channel_id: str | None = None

    def dump(self) -> str:
        return json.dumps({"project_id": self.project_id, "channel_id": self.channel_id})

    @classmethod
    def load(cls, text: str) -> FormContext | None:
        try:
            data = json.loads(text)
            project_id, channel_id = data["project_id"], data.get("channel_id")
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(project_id, str) or not isinstance(channel_id, str | None):
            return None
        return cls(project_id, channel_id)


def key_form(context: FormContext, *, replacing: bool) -> dict[str, Any]:
    """The modal's view (validated by slack_sdk's `View` in the tests and the fake Slack)."""
    pid = context.project_id
    what = (
        f"A key is stored for project *{pid}*; a new one replaces it."
        if replacing
        else f"eon-bot will use this key to read project *{pid}*'s EON Tuner runs."
    )
    return {
        "type": "modal",
        "callback_id": KEY_FORM_CALLBACK,
        "private_metadata": context.dump(),
        "title": {"type": "plain_text", "text": "Edge Impulse key"},
        "submit": {"type": "plain_text", "text": "Check and save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": what}},
            {
                "type": "input",
                "block_id": KEY_BLOCK,
                "label": {"type": "plain_text", "text": "Edge Impulse API key"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": KEY_ACTION,
                    "placeholder": {"type": "plain_text", "text": "ei_…"},
                    "max_length": KEY_MAX_CHARS,
                },
                "hint": {
                    "type": "plain_text",
                    "text": (
                        f"In Studio: project {pid} → Dashboard → Keys. A read-only key is "
                        "enough for notifications; the run buttons need an admin key."
                    ),
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (
                            "The key is checked with Edge Impulse, then stored encrypted. It is "
                            f"never shown again; `/eon key {pid} remove` forgets it."
                        ),
                    }
                ],
            },
        ],
    }
