"""A run has one name in every message: its Studio name, else "run <job id>", and an
extended search's name says so; the card, the trial messages and the chart use the same."""

from __future__ import annotations

import pytest

from bot.core.chart import chart_data
from bot.core.diff import diff
from bot.core.events import EventKind
from bot.core.run_name import run_name
from bot.slack.render import render_card, render_event
from tests.factories import state, trial


@pytest.mark.parametrize(
    ("name", "run_id", "continues", "shown"),
    [
        ("EON Tuner run 4", "11", None, "EON Tuner run 4"),
        ("EON Tuner run 4", "21", "11", "EON Tuner run 4 (extended search)"),
        (None, "11", None, "run 11"),
        ("  ", "11", "7", "run 11 (extended search)"),
        ("a\nname", None, None, "a name"),
    ],
)
def test_run_name(name: str | None, run_id: str | None, continues: str | None, shown: str) -> None:
    assert run_name(name, run_id, continues) == shown


@pytest.mark.parametrize("continues", [None, "9"], ids=["first run", "extended search"])
def test_the_card_the_messages_and_the_chart_say_one_name(continues: str | None) -> None:
    named = {"name": "EON Tuner run 4"}
    polls = [
        state(trial("a"), config=named),
        state(trial("a", "completed", accuracy=0.9, latency=10), config=named),
    ]
    if continues is not None:
        polls = [p.model_copy(update={"continuation_job_id": continues}) for p in polls]
    snapshot = None
    events = []
    for poll in polls:
        found, snapshot = diff(snapshot, poll, project_id="7")
        events += found
    assert snapshot is not None and snapshot.summary is not None
    name = "EON Tuner run 4" + (" (extended search)" if continues else "")
    [done] = [e for e in events if e.kind is EventKind.TRIAL_COMPLETED]
    [context] = [
        element["text"]
        for block in render_event(done).blocks
        if block["type"] == "context"
        for element in block["elements"]
    ]
    assert f"project 7 · {name} · trial a" in context, context
    assert "run 11" not in context  # the coordinator job id stays in the metadata
    assert render_event(done).metadata["event_payload"]["tuner_job_id"] == "10"
    assert render_card(snapshot.summary).blocks[0]["text"]["text"] == f"{name} · project 7"
    assert chart_data(snapshot).title == name
