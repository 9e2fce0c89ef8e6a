"""Documents generated from the seed schema (hypothesis-jsonschema) never crash the pipeline:
each either parses or becomes a typed `TunerApiError`, and every message made from it stays
within Slack's Block Kit limits and literal (no mention, link or markup can slip through).

Every document carries trials, also drawn from the schema (`TunerTrial`), most of them
finished: each completed or failed trial must become exactly one message about it, naming it.
A document the bot refuses is a typed error; `note` counts them, so a strategy that makes
most documents unusable would show in the statistics (`pytest --hypothesis-show-statistics`).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from bot.core.batch import FAILURES_TOLD_AT_ONCE
from bot.core.diff import diff
from bot.core.events import Event, EventKind, Snapshot
from bot.errors import TunerApiError
from bot.slack.render import render_card, render_event, render_status
from bot.tuner.client import parse_state
from bot.tuner.models import TunerTrial
from tests.schema import _schema, seed_path
from tests.slack.test_render import assert_literal, assert_within_limits


@cache
def _seed() -> dict[str, Any]:
    path = seed_path()
    assert path is not None, "tests/data/optimize-state.openapi.yaml is missing"
    schema: dict[str, Any] = json.loads(_schema(path, False))
    # hypothesis-jsonschema speaks draft 7; the schema uses nothing newer than `$defs` refs.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


@cache
def documents() -> st.SearchStrategy[Any]:
    """Whole documents but for their trials, which the test draws apart (`trials`) and puts
    in: drawing the schema's own trials, whole impulses and all, only to replace them, was
    most of the suite's slowest test."""
    seed = copy.deepcopy(_seed())
    for part in seed["$defs"]["OptimizeStateResponse"].get("allOf", []):
        if "trials" in part.get("properties", {}):
            part["properties"]["trials"] = {"type": "array", "maxItems": 0}
    return from_schema(seed)


@cache
def trials() -> st.SearchStrategy[list[dict[str, Any]]]:
    """1-4 schema-valid trials with distinct ids, most of them completed or failed. They are
    drawn from `TunerTrial` cut to what the bot reads (the figures, the name, the status), and
    an empty `impulse` (valid: its `required` is relaxed), since drawing whole impulses makes
    each example take seconds."""
    seed = _seed()
    full = seed["$defs"]["TunerTrial"]
    kept = ("id", "name", "status", "retries", "blocks", "metrics", "devicePerformance")
    properties = {name: full["properties"][name] for name in kept}
    properties["blocks"] = {**properties["blocks"], "maxItems": 0}
    properties["impulse"] = {"type": "object", "maxProperties": 0}
    cut = {"type": "object", "required": full["required"], "properties": properties}
    schema = {**seed, "$ref": "#/$defs/CutTrial", "$defs": {**seed["$defs"], "CutTrial": cut}}
    status = st.sampled_from(["completed", "completed", "failed", "running"])
    trial = st.tuples(from_schema(schema), status).map(lambda t: {**t[0], "status": t[1]})
    return st.lists(trial, min_size=1, max_size=4, unique_by=lambda t: str(t.get("id")))


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schema_documents_never_crash_and_fit_slack(data: st.DataObject) -> None:
    document = data.draw(documents())
    if isinstance(document, dict):
        document = {**document, "success": True, "trials": data.draw(trials())}
    try:
        state = parse_state("7", 200, json.dumps(document).encode())
    except TunerApiError:
        note("refused")
        return  # a shape the bot cannot use: a typed error, never a crash
    # The same run seen before with nothing done yet, so every trial's state is news.
    seen = Snapshot(
        project_id="7",
        coordinator_job_id=state.tuner_coordinator_job_id,
        tuner_job_id=state.tuner_job_id,
    )
    events, snapshot = diff(seen, state, project_id="7")
    assert snapshot.summary is not None
    messages = [render_event(event) for event in events]
    messages += [render_card(snapshot.summary), render_status([snapshot.summary])]
    for message in messages:
        assert_within_limits(message)
        assert_literal(message)
    assert_trial_messages(state.trials, events)


def assert_trial_messages(trials: list[TunerTrial], events: list[Event]) -> None:
    """One message per completed trial and per failed attempt (the ones its `retries` count
    and its current one, at most FAILURES_TOLD_AT_ONCE), of its kind, carrying its id and
    naming it."""
    owed = [(EventKind.TRIAL_COMPLETED, t.id) for t in trials if t.status == "completed"]
    for t in trials:
        failed = max(0, t.retries) + (t.status == "failed")
        owed += [(EventKind.TRIAL_FAILED, t.id)] * min(failed, FAILURES_TOLD_AT_ONCE)
    about = [event for event in events if event.trial_id is not None]
    assert sorted((e.kind, e.trial_id) for e in about) == sorted(owed)
    names = {trial.id: trial.name or trial.id for trial in trials}
    for event in about:
        message = render_event(event)
        payload = message.metadata["event_payload"]
        assert message.metadata["event_type"] == event.kind.value
        assert payload["trial_id"] == event.trial_id
        words = names[str(event.trial_id)].split()
        if words and words[0].isprintable():  # control characters are not shown as they are
            # The name as Slack shows it: escaped, whitespace folded, maybe cut short.
            shown = words[0][:8].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert shown in message.text, f"{shown!r} not in {message.text!r}"
