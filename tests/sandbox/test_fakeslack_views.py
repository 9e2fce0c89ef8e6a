"""The fake Slack's views and users, through the real slack_sdk client: a trigger id opens one
modal within 3 s, a view Slack would refuse is refused, Home tabs are kept per user, and
users.info says who is an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fakeslack import FakeSlack

MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "A form"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}],
}
HOME = {"type": "home", "blocks": MODAL["blocks"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


World = tuple[FakeSlack, AsyncWebClient, Clock]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock()
    async with FakeSlack(clock=clock) as fake:
        yield fake, AsyncWebClient(token="xoxb-test", base_url=fake.api_url), clock


async def error_of(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def test_a_trigger_opens_one_modal_within_three_seconds(world: World) -> None:
    fake, slack, clock = world
    trigger = fake.trigger_id()
    opened = await slack.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["id"] == fake.views_opened[0]["id"]
    assert await error_of(slack.views_open(trigger_id=trigger, view=MODAL)) == "invalid_trigger_id"
    late = fake.trigger_id()
    clock.now += 3.5
    assert await error_of(slack.views_open(trigger_id=late, view=MODAL)) == "expired_trigger_id"
    assert len(fake.views_opened) == 1


@pytest.mark.parametrize(
    "view",
    [
        {**MODAL, "title": {"type": "plain_text", "text": "a title longer than Slack allows"}},
        {**MODAL, "type": "home"},
        {**MODAL, "blocks": "not blocks"},
    ],
)
async def test_a_view_slack_would_refuse_is_refused(world: World, view: dict[str, Any]) -> None:
    fake, slack, _ = world
    call = slack.views_open(trigger_id=fake.trigger_id(), view=view)
    assert await error_of(call) == "invalid_arguments"


async def test_home_tabs_are_kept_per_user_and_users_info_tells_admins(world: World) -> None:
    fake, slack, _ = world
    await slack.views_publish(user_id="U1", view=HOME)
    assert fake.home_of("U1") is not None and fake.home_of("U2") is None
    fake.set_user("U1", is_owner=True)
    owner = (await slack.users_info(user="U1"))["user"]
    someone = (await slack.users_info(user="U2"))["user"]
    assert (owner["is_owner"], someone["is_admin"], someone["is_owner"]) == (True, False, False)
