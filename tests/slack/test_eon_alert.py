"""`/eon alert`: parsed (a table, and any text), answered through bolt with signed requests;
`/eon list` and `/eon help` show alerts; the notice an alert gets, checked by slack_sdk's Block
Kit models and posted into FakeSlack."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import EventKind, RunRef, Snapshot, TrialMark
from bot.core.rules import Rule, parse_rule
from bot.core.summary import TrialSummary
from bot.sandbox.fakeslack import FakeSlack
from bot.slack.listeners.eon_answers import HELP_TEXT
from bot.slack.listeners.eon_parse import (
    AlertAdd,
    AlertList,
    AlertRemove,
    UsageError,
    parse,
)
from bot.slack.render import render_event
from tests.slack import test_commands
from tests.slack.test_commands import MakeBot, run_summary

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

fake = test_commands.fake  # the fixtures of the `/eon` tests: bolt, FakeSlack, a memory store
make_bot = test_commands.make_bot

ALERT_USAGE = "Usage: `/eon alert PROJECT_ID FIELD&gt;=VALUE…|list|remove [N|all]`"


def rule(text: str) -> Rule:
    found = parse_rule(text)
    assert isinstance(found, Rule)
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alert 42 accuracy>=0.92 latency<=50", AlertAdd("42", rule("accuracy>=92% latency<=50"))),
        ("ALERT 0042 accuracy &gt;= 92 %", AlertAdd("42", rule("accuracy>=92%"))),  # as sent
        ("alert 42", AlertList("42")),
        ("alert 42 LIST", AlertList("42")),
        ("alert 42 remove", AlertRemove("42")),
        ("alert 42 remove all", AlertRemove("42", "all")),
        ("alert 42 remove 2 1 2", AlertRemove("42", (2, 1))),
    ],
)
def test_parse_alert(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "alert 42 latency<=fast",
            f"'latency&lt;=fast': the value must be a number. {ALERT_USAGE}",
        ),
        ("alert 42 accuracy", "'accuracy': no comparison"),
        (
            "alert 42 remove x",
            "Remove by the numbers `/eon alert 42 list` shows, or `all`, not “x”",
        ),
        ("alert 42 remove 100", "not “100”"),
        ("alert 42 list now", f"Too many words, starting at “now”. {ALERT_USAGE}"),
        ("alert", f"The project id is missing. {ALERT_USAGE}"),
        ("alert x accuracy>=1", "“x” is not a project id"),
        ("alert 42 <!channel>&lt;1", "'&lt;!channel&gt;&lt;1': name the figure first"),
    ],
)
def test_a_malformed_alert_gets_one_line(text: str, message: str) -> None:
    found = parse(text)
    assert isinstance(found, UsageError)
    assert message in found.message and "\n" not in found.message


@given(st.text(max_size=200))
def test_any_alert_text_parses_or_is_one_safe_line(rest: str) -> None:
    found = parse(f"alert 42 {rest}")
    if isinstance(found, UsageError):
        assert "\n" not in found.message
        shown = found.message.replace("&lt;", "").replace("&gt;", "").replace("&amp;", "")
        assert "<" not in shown and ">" not in shown and "&" not in shown
    else:
        assert isinstance(found, AlertAdd | AlertList | AlertRemove)


async def test_alerts_are_added_listed_and_removed(make_bot: MakeBot) -> None:
    bot = make_bot()
    _, body = await bot.command("alert 42 accuracy>=0.92 latency<=50")
    assert body["text"].startswith("This channel does not watch project 42: `/eon watch 42`")
    await bot.store.subscribe(T, "C1", "42", added_by="U1", mode="failures")
    _, body = await bot.command("alert 42 accuracy>=0.92 latency<=50")
    assert body["text"] == (
        "🎯 Alert on project 42 here: `accuracy&gt;=92% latency&lt;=50ms`. The first trial of "
        "each run that meets every condition gets one notice in the run's thread, also sent "
        "to the channel."
    )
    _, body = await bot.command("alert 42 accuracy >= 92% latency <= 50ms")
    assert body["text"].startswith("This channel has that alert on project 42 already")
    await bot.command("alert 42 ram<=64KB", user="U7")
    _, body = await bot.command("alert 42 list")
    assert body["text"].splitlines()[1:] == [
        "1. `accuracy&gt;=92% latency&lt;=50ms` · added by <@U1>",
        "2. `ram&lt;=64KB` · added by <@U7>",
        "Remove one with `/eon alert 42 remove N`, or `remove all`.",
    ]
    _, body = await bot.command("list")
    assert body["text"].splitlines()[1:] == [
        "• project *42* — failures only (failed trials, time limit, end, stalls, outages) · "
        "added by <@U1>",
        "    🎯 alerts: `accuracy&gt;=92% latency&lt;=50ms` · `ram&lt;=64KB`",
    ]
    _, body = await bot.command("alert 42 remove")
    assert body["text"].startswith("This channel has 2 alerts on project 42: `/eon alert 42 rem")
    _, body = await bot.command("alert 42 remove 1")
    assert body["text"] == "🗑 Removed from project 42 here: `accuracy&gt;=92% latency&lt;=50ms`."
    _, body = await bot.command("alert 42 remove 5")
    assert body["text"] == "No alert numbered 5 on project 42 here; `/eon alert 42 list`."
    _, body = await bot.command("alert 42 remove")  # the only one left
    assert body["text"] == "🗑 Removed from project 42 here: `ram&lt;=64KB`."
    _, body = await bot.command("alert 42 list")
    assert body["text"].startswith("No alert on project 42 here. Add one: `/eon alert 42 ")


async def test_adding_an_alert_says_which_trials_of_the_run_met_it_already(
    make_bot: MakeBot,
) -> None:
    def mark(name: str, accuracy: float, status: str = "completed") -> TrialMark:
        figures = TrialSummary(id=name, name=name, status=status, accuracy=accuracy)
        return TrialMark(status=status, completed_reported=True, figures=figures)

    bot = make_bot()
    await bot.store.subscribe(T, "C1", "42", added_by="U1")
    bot.store.snapshots["42"] = Snapshot(
        project_id="42",
        coordinator_job_id="11",
        trials={
            "a": mark("conv <b>", 0.95),
            "b": mark("small", 0.5),
            "c": mark("failed-one", 0.99, "failed"),
        },
        run_trials=("a", "b", "c"),
        summary=run_summary("42"),
    )
    _, body = await bot.command("alert 42 accuracy>=0.9")
    assert body["text"].endswith(
        " In the run going on, *conv &lt;b&gt;* met it already, before the alert: the next "
        "trial of this run to meet it is told."
    )
    _, body = await bot.command("alert 42 accuracy>=0.99")
    assert body["text"].endswith("also sent to the channel.")  # a failed trial meets nothing
    bot.store.snapshots["42"] = bot.store.snapshots["42"].model_copy(
        update={"summary": run_summary("42").model_copy(update={"finished": True})}
    )
    _, body = await bot.command("alert 42 accuracy>=0.91")
    assert body["text"].endswith("also sent to the channel.")  # the run is over: a next one


async def test_only_admins_change_alerts_anyone_lists_them(make_bot: MakeBot) -> None:
    bot = make_bot(admin_user_ids=frozenset({"UADMIN"}))
    await bot.store.subscribe(T, "C1", "42", added_by="UADMIN")
    for text in ("alert 42 accuracy>=0.9", "alert 42 remove all"):
        _, body = await bot.command(text, user="U2")
        assert body["text"].startswith("⛔ Only eon-bot admins (ADMIN_USER_IDS) can change this")
    assert bot.store.alert_list == []
    _, body = await bot.command("alert 42 accuracy>=0.9", user="UADMIN")
    assert body["text"].startswith("🎯 Alert on project 42 here")
    _, body = await bot.command("alert 42 list", user="U2")
    assert "1. `accuracy&gt;=90%` · added by <@UADMIN>" in body["text"]


async def test_help_lists_alert() -> None:
    line = next(line for line in HELP_TEXT.splitlines() if "/eon alert" in line)
    assert "remove all" in line and "92%" in line
    assert "<" not in line and ">" not in line  # escaped: never a link or a mention


def notice(trial_name: str = "conv1d-large", **numbers: Any) -> Any:
    run = RunRef("42", "11", "10", "EON Tuner run 3", "Keyword spotting")
    figures = {"accuracy": 0.931, "latency_ms": 42.0, "ram_bytes": 65536, "rom_bytes": 1572864}
    return run.event(
        EventKind.THRESHOLD_MET,
        "accuracy>=92% latency<=50ms",
        trial_id="t6",
        trial_name=trial_name,
        rule="accuracy>=92% latency<=50ms",
        **(figures | numbers),
    )


def validated(blocks: list[dict[str, Any]]) -> list[Block]:
    parsed = []
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()  # slack_sdk's own checks
        parsed.append(block)
    return parsed


async def test_the_notice_says_which_trial_met_which_rule(fake: FakeSlack) -> None:
    message = render_event(notice())
    assert message.text == (
        "🎯 *conv1d-large* meets this channel's alert `accuracy&gt;=92% latency&lt;=50ms` — "
        "accuracy 93.1% · latency 42 ms · RAM 64.0 KB · ROM 1.5 MB"
    )
    assert [type(b).__name__ for b in validated(message.blocks)] == [
        "SectionBlock",
        "ContextBlock",
        "ActionsBlock",
    ]
    assert message.metadata is not None and message.metadata["event_type"] == "eon_threshold_met"
    payload = message.metadata["event_payload"]
    assert payload["trial_id"] == "t6" and payload["rule"] == "accuracy>=92% latency<=50ms"
    hostile = render_event(notice("<!channel> & " * 400))
    validated(hostile.blocks)
    assert "<!channel>" not in hostile.text
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    for m in (message, hostile):
        await client.chat_postMessage(
            channel="C1", text=m.text, blocks=m.blocks, metadata=m.metadata
        )
    assert len(fake.top_level("C1")) == 2
