"""Views and users as Slack answers them: `views.open` (a modal, with a `trigger_id` good for
3 seconds and one use), `views.publish` (a user's Home tab), and `users.info` (who is a
workspace admin or owner). Each view is checked with slack_sdk's own `View` model, so a view
the real Slack would refuse is refused here too (`invalid_arguments`).

Tests make trigger ids with `trigger_id()` (the bot's slash commands and button clicks carry
them) and people with `set_user`; `views_opened`/`home_of` read back what was shown.
`submission(view, values)` is what Slack would send the app when the modal is submitted.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from bot.sandbox.fakeslack.methods import WebApiMethods
from bot.sandbox.fakeslack.records import TEAM_ID
from bot.sandbox.fakeslack.wire import ApiError, JSONDict, opt_str, parse_json_arg

TRIGGER_TTL_S = 3.0


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    is_admin: bool = False
    is_owner: bool = False


class ViewMethods(WebApiMethods):
    def _views_state(self) -> None:
        self._triggers: dict[str, float] = {}
        self._opened: list[JSONDict] = []
        self._homes: dict[str, JSONDict] = {}
        self._people: dict[str, Person] = {}

    def view_handlers(self) -> dict[str, Any]:
        self._views_state()
        return {
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
        }

    # -- what tests set and read -------------------------------------------------------------

    def trigger_id(self) -> str:
        """A trigger id, as a slash command or a click carries one; usable once, for 3 s."""
        trigger = f"{next(self._ids)}.{TEAM_ID}.trigger"
        self._triggers[trigger] = self._clock()
        return trigger

    def set_user(self, user_id: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        self._people[user_id] = Person(user_id, is_admin, is_owner)

    @property
    def views_opened(self) -> list[JSONDict]:
        """Every modal opened, as Slack holds it (with its `id`)."""
        return copy.deepcopy(self._opened)

    def home_of(self, user_id: str) -> JSONDict | None:
        """The Home tab last published for `user_id`."""
        home = self._homes.get(user_id)
        return copy.deepcopy(home) if home is not None else None

    # -- the methods ---------------------------------------------------------------------------

    def _view(self, args: JSONDict, kind: str) -> JSONDict:
        view = parse_json_arg(args.get("view"), "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != kind:
            raise ApiError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise ApiError("invalid_arguments")
        try:
            parsed = View(**view)
            parsed.validate_json()
        except (SlackObjectFormationError, TypeError, ValueError):
            raise ApiError("invalid_arguments") from None
        if len(parsed.blocks or []) != len(blocks):  # slack_sdk skips blocks it does not know
            raise ApiError("invalid_arguments")
        return {**view, "id": f"V{next(self._ids):08d}", "team_id": TEAM_ID}

    def _views_open(self, args: JSONDict) -> JSONDict:
        trigger = opt_str(args, "trigger_id")
        if not trigger:
            raise ApiError("invalid_arguments")
        issued = self._triggers.pop(trigger, None)
        if issued is None:
            raise ApiError("invalid_trigger_id")
        if self._clock() - issued > TRIGGER_TTL_S:
            raise ApiError("expired_trigger_id")
        view = self._view(args, "modal")
        self._opened.append(view)
        self._notify()
        return {"ok": True, "view": view}

    def _views_publish(self, args: JSONDict) -> JSONDict:
        user = opt_str(args, "user_id")
        if not user:
            raise ApiError("invalid_arguments")
        view = self._view(args, "home")
        self._homes[user] = view
        self._notify()
        return {"ok": True, "view": view}

    def _users_info(self, args: JSONDict) -> JSONDict:
        user = opt_str(args, "user")
        if not user:
            raise ApiError("user_not_found")
        person = self._people.get(user, Person(user))
        return {
            "ok": True,
            "user": {
                "id": person.user_id,
                "team_id": TEAM_ID,
                "name": person.user_id.lower(),
                "is_admin": person.is_admin,
                "is_owner": person.is_owner,
                "is_bot": False,
            },
        }


def submission(view: JSONDict, user_id: str, values: dict[str, dict[str, str]]) -> JSONDict:
    """The `view_submission` payload Slack sends when `user_id` submits `view` (as opened)
    with `values`: {block_id: {action_id: text}} for plain text inputs."""
    state = {
        block: {
            action: {"type": "plain_text_input", "value": text} for action, text in inputs.items()
        }
        for block, inputs in values.items()
    }
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "eon-test"},
        "user": {"id": user_id, "team_id": TEAM_ID},
        "api_app_id": "A0EONBOT",
        "token": "deprecated-verification-token",
        "trigger_id": f"{view['id']}.submit",
        "view": {**view, "state": {"values": state}, "hash": "1.abc"},
        "response_urls": [],
        "is_enterprise_install": False,
    }
