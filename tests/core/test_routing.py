"""Which events each watch mode gets: the table the store and `/eon watch` share."""

from __future__ import annotations

import pytest

from bot.core.events import Event, EventKind
from bot.core.routing import MODES, as_mode, receives, told_as


def event(kind: EventKind) -> Event:
    return Event(kind=kind, key=f"42:R1:{kind.value}", project_id="42", run_id="R1")


@pytest.mark.parametrize("kind", list(EventKind))
def test_all_gets_every_kind(kind: EventKind) -> None:
    assert receives("all", event(kind))


@pytest.mark.parametrize(
    ("kind", "told"),
    [
        (EventKind.TRIAL_COMPLETED, False),
        (EventKind.TRIAL_FAILED, False),
        (EventKind.RUN_STARTED, True),
        (EventKind.TIME_LIMIT_EXCEEDED, True),
        (EventKind.JOB_FINISHED, True),
        (EventKind.API_UNREACHABLE, True),
        (EventKind.API_RECOVERED, True),
    ],
)
def test_milestones_skip_single_trials(kind: EventKind, told: bool) -> None:
    assert receives("milestones", event(kind)) is told


@pytest.mark.parametrize(
    ("kind", "told"),
    [
        (EventKind.TRIAL_COMPLETED, False),
        (EventKind.TRIAL_FAILED, True),
        (EventKind.RUN_STARTED, True),
        (EventKind.TIME_LIMIT_EXCEEDED, True),
        (EventKind.JOB_FINISHED, True),
        (EventKind.RUN_CHART, True),
        (EventKind.RUN_STALLED, True),
        (EventKind.RUN_RESUMED, True),
        (EventKind.API_UNREACHABLE, True),
        (EventKind.API_RECOVERED, True),
        (EventKind.ACTION_TAKEN, True),
        (EventKind.ACTION_OUTCOME, True),
    ],
)
def test_failures_get_failed_trials_and_the_milestones_never_a_completion(
    kind: EventKind, told: bool
) -> None:
    assert receives("failures", event(kind)) is told
    best = event(kind).model_copy(update={"payload": {"is_best": True}})
    assert receives("failures", best) is told  # a new best is still a completion


def test_an_unknown_mode_is_never_starved() -> None:
    assert receives("from-a-newer-version", event(EventKind.TRIAL_COMPLETED))


@pytest.mark.parametrize(
    ("word", "mode"),
    [
        ("all", "all"),
        ("MileStones", "milestones"),
        ("Failures", "failures"),
        ("failure", None),
        ("milestone", None),
        ("", None),
    ],
)
def test_as_mode(word: str, mode: str | None) -> None:
    assert as_mode(word) == mode


def test_all_is_the_first_mode_the_default() -> None:
    assert MODES[0] == "all"


@pytest.mark.parametrize(
    ("kind", "payload", "told"),
    [
        (EventKind.TRIAL_COMPLETED, {"is_best": True}, True),
        (EventKind.TRIAL_COMPLETED, {}, False),
        (EventKind.TRIAL_COMPLETED, {"is_best": "yes"}, False),
        (EventKind.TRIAL_FAILED, {"is_best": True}, False),
        (EventKind.RUN_STARTED, {}, True),
        (EventKind.TIME_LIMIT_EXCEEDED, {}, True),
        (EventKind.JOB_FINISHED, {}, True),
        (EventKind.RUN_CHART, {}, True),
        (EventKind.RUN_STALLED, {}, True),
        (EventKind.RUN_RESUMED, {}, True),
        (EventKind.API_UNREACHABLE, {}, True),
        (EventKind.API_RECOVERED, {}, True),
    ],
)
def test_best_gets_new_bests_and_the_milestones(
    kind: EventKind, payload: dict[str, object], told: bool
) -> None:
    item = Event(
        kind=kind, key=f"42:R1:{kind.value}", project_id="42", run_id="R1", payload=payload
    )
    assert receives("best", item) is told
    assert as_mode("BEST") == "best"


@pytest.mark.parametrize(
    ("mode", "after_failure", "told"),
    [
        ("failures", True, "quiet"),  # its failure was told: edited, nothing posted
        ("failures", False, None),
        ("failures", None, None),  # not known: nothing to edit for sure
        ("all", True, "event"),
        ("best", True, None),  # best and milestones were never told the failure
        ("milestones", True, None),
    ],
)
def test_a_completion_after_a_failure_only_edits_the_failure_in_failures_mode(
    mode: str, after_failure: bool | None, told: str | None
) -> None:
    completion = event(EventKind.TRIAL_COMPLETED).model_copy(
        update={"after_failure": after_failure}
    )
    found = told_as(mode, completion)
    if told is None:
        assert found is None
    elif told == "event":
        assert found is completion
    else:
        assert found is not None and found.quiet and found.key == completion.key
        assert found.model_copy(update={"quiet": False}) == completion


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(EventKind))
def test_told_as_is_receives_for_everything_else(mode: str, kind: EventKind) -> None:
    item = event(kind)
    assert told_as(mode, item) is (item if receives(mode, item) else None)
