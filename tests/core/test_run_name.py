"""A run has one name in every message: its Studio name, else "EON Tuner run N" by its index,
else (last resort) "run <job id>", and an extended search's name says so; a project is named
"Keyword spotting (project 1)" once its name is known; the card, the trial messages and the
chart use the same."""

from __future__ import annotations

import pytest

from bot.core.chart import chart_data
from bot.core.diff import diff
from bot.core.events import EventKind
from bot.core.run_name import project_label, run_name
from bot.core.summarize import summarize_run
from bot.service.names import stamped
from bot.slack.render import render_card, render_event
from bot.tuner.runs import TunerRun, as_earlier
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


@pytest.mark.parametrize(
    ("name", "index", "continues", "shown"),
    [
        ("EON Tuner run 4", 9, None, "EON Tuner run 4"),  # Studio's name first
        (None, 4, None, "EON Tuner run 4"),
        ("", 4, "11", "EON Tuner run 4 (extended search)"),
        (None, 0, None, "run 11"),  # no run 0: the job id, as a last resort
        (None, None, None, "run 11"),
    ],
)
def test_a_nameless_run_is_named_by_its_index(
    name: str | None, index: int | None, continues: str | None, shown: str
) -> None:
    assert run_name(name, "11", continues, index) == shown


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Keyword spotting", "Keyword spotting (project 1)"),
        (None, "project 1"),
        ("  ", "project 1"),
        ("two\nlines", "two lines (project 1)"),
    ],
)
def test_project_label(name: str | None, shown: str) -> None:
    assert project_label("1", name) == shown


@pytest.mark.parametrize(
    ("config", "next_index", "shown"),
    [
        ({"name": "EON Tuner run 2"}, 5, "EON Tuner run 2"),
        ({}, 5, "EON Tuner run 4"),  # Studio names a run by nextRunIndex, then counts on
        ({}, None, "run 11"),
        ({}, 1, "run 11"),
    ],
)
def test_the_current_run_without_a_name_is_numbered_by_studios_rule(
    config: dict[str, str], next_index: int | None, shown: str
) -> None:
    document = state(trial("a"), config=config).model_copy(update={"next_run_index": next_index})
    assert summarize_run("7", document).display_name == shown


def test_an_earlier_run_is_named_from_the_runs_list_not_from_the_projects_count() -> None:
    document = state(trial("a"), config={}).model_copy(update={"next_run_index": 9})
    listed = TunerRun(tuner_job_id="10", tuner_coordinator_job_id="11", index=3)
    assert summarize_run("7", as_earlier(document, listed)).display_name == "EON Tuner run 3"
    assert summarize_run("7", as_earlier(document, None)).display_name == "run 11"
    named = state(trial("a"), config={"name": "mine"})
    assert summarize_run("7", as_earlier(named, listed)).display_name == "mine"


def test_the_projects_name_is_stamped_on_the_summary_and_the_events() -> None:
    events, snapshot = diff(None, state(trial("a"), config={"name": "r"}), project_id="7")
    assert events and snapshot.summary is not None
    same, untouched = stamped(snapshot, events, None)
    assert same is snapshot and untouched == events
    named, stamped_events = stamped(snapshot, events, "Keyword spotting")
    assert named.summary is not None and named.summary.project_name == "Keyword spotting"
    assert {e.project_name for e in stamped_events} == {"Keyword spotting"}
    card = render_card(named.summary).blocks[0]["text"]["text"]
    assert card == "EON Tuner · r · Keyword spotting (project 7)"
    text = render_event(stamped_events[0]).text
    assert "Keyword spotting (project 7)" in text and "11" not in text


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
