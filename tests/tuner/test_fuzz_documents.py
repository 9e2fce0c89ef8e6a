"""Documents generated from the seed schema (hypothesis-jsonschema) never crash the pipeline:
each either parses or becomes a typed `TunerApiError`, and every message made from it stays
within Slack's Block Kit limits and literal (no mention, link or markup can slip through)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from bot.core.diff import diff
from bot.core.events import Snapshot
from bot.errors import TunerApiError
from bot.slack.render import render_card, render_event, render_status
from bot.tuner.client import parse_state
from tests.schema import _schema, seed_path
from tests.slack.test_render import assert_literal, assert_within_limits


@cache
def documents() -> st.SearchStrategy[Any]:
    path = seed_path()
    assert path is not None, "tests/data/optimize-state.openapi.yaml is missing"
    schema = json.loads(_schema(path, False))
    # hypothesis-jsonschema speaks draft 7; the schema uses nothing newer than `$defs` refs.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return from_schema(schema)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schema_documents_never_crash_and_fit_slack(data: st.DataObject) -> None:
    document = data.draw(documents())
    try:
        state = parse_state("7", 200, json.dumps(document).encode())
    except TunerApiError:
        return  # `success: false` or a shape the bot cannot use: a typed error, never a crash
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
