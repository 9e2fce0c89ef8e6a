"""Which completions an alert tells of (pure), against an oracle written apart: for any
sequence of events and alerts, each (channel, alert, run) gets one notice, right after the
first completion of that run that meets the alert, and every event keeps its place."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.core.alerts import Alert, with_alerts
from bot.core.events import Event, EventKind, RunRef
from bot.core.rules import Rule, parse_rule

RUNS = [RunRef("42", f"R{n}", f"J{n}") for n in (1, 2)]
RULES = ["accuracy>=0.9", "latency<=50", "accuracy>=0.8 latency<=100", "ram<64KB"]


def rule(text: str) -> Rule:
    found = parse_rule(text)
    assert isinstance(found, Rule)
    return found


def meets(text: str, p: dict[str, Any]) -> bool:
    """The four rules above, by hand."""
    acc, lat, ram = p.get("accuracy"), p.get("latency_ms"), p.get("ram_bytes")
    return {
        "accuracy>=0.9": acc is not None and acc >= 0.9,
        "latency<=50": lat is not None and lat <= 50,
        "accuracy>=0.8 latency<=100": acc is not None and acc >= 0.8 and lat is not None
        and lat <= 100,
        "ram<64KB": ram is not None and ram < 65536,
    }[text]  # fmt: skip


@st.composite
def events(draw: st.DrawFn) -> Event:
    run = draw(st.sampled_from(RUNS))
    trial = draw(st.sampled_from(["t1", "t2", "t3", "t4", "t5"]))
    if draw(st.booleans()):
        return run.event(EventKind.TRIAL_FAILED, trial, trial_id=trial)
    figures = {
        "accuracy": draw(st.none() | st.sampled_from([0.5, 0.8, 0.85, 0.9, 0.95])),
        "latency_ms": draw(st.none() | st.sampled_from([10.0, 50.0, 75.0, 100.0, 300.0])),
        "ram_bytes": draw(st.none() | st.sampled_from([1024, 65535, 65536, 200_000])),
    }
    numbers = {key: value for key, value in figures.items() if value is not None}
    return run.event(EventKind.TRIAL_COMPLETED, trial, trial_id=trial, **numbers)


alerts = st.lists(
    st.tuples(st.sampled_from(["C1", "C2"]), st.sampled_from(RULES)), unique=True, max_size=5
)


@given(st.lists(events(), max_size=12), alerts)
def test_each_alert_tells_the_first_completion_of_each_run_that_meets_it(
    told: list[Event], wanted: list[tuple[str, str]]
) -> None:
    found = with_alerts(told, [Alert(channel, "42", rule(text)) for channel, text in wanted])
    assert [event for event, to in found if to is None] == told  # every event, in its order
    expected: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for event in told:
        if event.kind is not EventKind.TRIAL_COMPLETED:
            continue
        for channel, text in wanted:
            key = (channel, text, str(event.run_id))
            if key not in seen and meets(text, event.payload):
                seen.add(key)
                expected.append((channel, rule(text).text, str(event.run_id), str(event.trial_id)))
    notices = [(to[1], e.payload["rule"], str(e.run_id), str(e.trial_id)) for e, to in found if to]
    assert notices == expected
    for index, (event, to) in enumerate(found):
        if to is not None:  # right after its completion, or after its completion's other notices
            before = next(e for e, t in reversed(found[:index]) if t is None)
            assert before.kind is EventKind.TRIAL_COMPLETED
            assert (before.trial_id, before.run_id) == (event.trial_id, event.run_id)
            assert event.kind is EventKind.THRESHOLD_MET
            assert event.tuner_job_id == before.tuner_job_id
