""" "🔔 Tell me when it ends", rendered (pure): the card's button while the run runs, who asked
named up to three and counted past that, the answers, and the end by DM (the channel's words
and metadata, a link to the thread, no acting button), each checked with slack_sdk's models."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.core.events import EventKind
from bot.slack.render import Message, render_card
from bot.slack.render.actions import parse_value
from bot.slack.render.bell import (
    ALREADY,
    BELL_ACTION_ID,
    BELL_OFF_ACTION_ID,
    bell_line,
    render_already,
    render_bell_end,
)
from bot.slack.render.events import render_event
from tests.slack.test_render import assert_within_limits, event, summary

LINK = "https://eon-test.slack.com/archives/C1/p1700000000000100"


def valid(message: Message) -> list[Block]:
    """slack_sdk's models parse and accept every block."""
    blocks = [Block.parse(raw) for raw in message.blocks]
    for block in blocks:
        assert block is not None
        block.validate_json()
    return [block for block in blocks if block is not None]


def buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize(
    ("users", "line"),
    [
        ([], None),
        (["U1"], "🔔 <@U1> will hear when it ends"),
        (["U1", "U2", "U3"], "🔔 <@U1>, <@U2>, <@U3> will hear when it ends"),
        (["U1", "U2", "U3", "U4", "U5"], "🔔 5 people will hear when it ends"),
        (["<!channel>"], "🔔 &lt;!channel&gt; will hear when it ends"),
    ],
)
def test_who_asked(users: list[str], line: str | None) -> None:
    assert bell_line(users) == line


def test_the_card_offers_the_bell_while_the_run_runs_and_names_who_asked() -> None:
    card = render_card(summary(), bells=["U1", "U2"])
    valid(card)
    assert_within_limits(card)
    [bell] = [b for b in buttons(card) if b["action_id"] == BELL_ACTION_ID]
    assert "🔔" in bell["text"]["text"] and "confirm" not in bell
    assert parse_value(bell["value"]) == ("42", "11", "")
    assert "🔔 <@U1>, <@U2> will hear when it ends" in str(card.blocks)
    ended = render_card(summary(finished=True, running=False, status="completed"), bells=["U1"])
    valid(ended)
    assert not [b for b in buttons(ended) if b["action_id"] == BELL_ACTION_ID]
    assert "will hear" not in str(ended.blocks)


def test_a_second_click_offers_to_take_them_off() -> None:
    answer = render_already("42", "11")
    valid(answer)
    assert answer.text == ALREADY
    [off] = buttons(answer)
    assert off["action_id"] == BELL_OFF_ACTION_ID and parse_value(off["value"]) == ("42", "11", "")


@given(name=st.text(max_size=300), link=st.one_of(st.none(), st.just(LINK), st.text(max_size=80)))
def test_the_end_by_dm_is_the_channels_end_with_a_link(name: str, link: str | None) -> None:
    end = event(
        EventKind.JOB_FINISHED,
        outcome="completed",
        best_trial_id="t1",
        best_trial_name=name,
        can_extend_search=True,
    )
    dm = render_bell_end(end, link)
    valid(dm)
    assert_within_limits(dm)
    assert dm.metadata == render_event(end).metadata
    assert buttons(dm) == []  # neither Extend nor Use: a DM watches nothing
    assert ("<" + LINK + "|the run's thread>" in dm.text) == (link == LINK)
    assert "<!" not in dm.text and "<@" not in dm.text
