"""Logging once per condition (`bot.conditions`): a dependency down is one line, a summary a
minute at most, one line back; an unexpected error's traceback once per distinct error."""

from __future__ import annotations

import logging

import pytest

from bot.conditions import NEW_DOWN_LINES, Condition, Once, Refusals, Unexpected

LOG = logging.getLogger("tests.conditions")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG.name]


def test_an_outage_is_one_line_down_a_summary_a_minute_and_one_line_back(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    database = Condition(LOG, "the database", "check DATABASE_URL", clock=clock)
    database.failed("storing a poll", ConnectionRefusedError("connection refused"))
    for _ in range(339):  # ten attempts a second for 34 s
        clock.t += 0.1
        database.failed("a health check", "SELECT 1 did not answer")
    assert lines(caplog) == [
        "the database is down: storing a poll failed: connection refused; check DATABASE_URL"
    ]
    for _ in range(300):  # 30 s more: past the minute, one summary
        clock.t += 0.1
        database.failed("storing a poll", OSError("connection refused"))
    said = lines(caplog)
    assert len(said) == 2, said
    assert said[1].startswith("the database still down after 60 s: ")
    assert "failures in the last 60 s" in said[1]
    clock.t += 30
    database.ok()
    database.ok()  # up is said once
    said = lines(caplog)
    assert len(said) == 3, said
    assert said[2] == "the database is back after 2 min (640 failures meanwhile)"


def test_projects_down_together_are_named_in_one_summary(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    edge = Condition(LOG, "Edge Impulse", "polls go on", clock=clock)
    for minute in range(3):
        for project in range(1, 41):
            edge.failed("polling", f"HTTP 502 (minute {minute})", key=str(project))
        clock.t += 61
    said = lines(caplog)
    down = [line for line in said if " is down: " in line]
    assert len(down) == NEW_DOWN_LINES  # the rest are counted in the summary, not listed
    assert (
        down[0]
        == "Edge Impulse for project 1 is down: polling failed: HTTP 502 (minute 0); polls go on"
    )
    summaries = [line for line in said if "still failing" in line]
    assert len(summaries) == 2, said
    assert "for 40 project(s) (1, 2, 3, 4, 5, 6, 7, 8, 9, 10 …)" in summaries[0]
    edge.ok("7")
    assert lines(caplog)[-1].startswith("Edge Impulse for project 7 is back after 3 min")


def test_an_unexpected_error_has_its_traceback_once_then_a_count_a_minute(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    unexpected = Unexpected(LOG, clock=clock)

    def fail(kind: type[Exception]) -> Exception:
        try:
            raise kind("boom")
        except Exception as error:
            return error

    for _ in range(100):
        clock.t += 1
        unexpected("delivery to channel C1", fail(KeyError))
    unexpected("delivery to channel C1", fail(ValueError))  # another error: its own traceback
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert [type(r.exc_info[1]).__name__ for r in tracebacks if r.exc_info] == [
        "KeyError",
        "ValueError",
    ]
    repeats = [r.getMessage() for r in caplog.records if not r.exc_info]
    assert len(repeats) == 1, repeats  # at 60 s, not at every one of the 99 repeats
    assert "the same error 60 more time(s)" in repeats[0]


def test_refusals_are_a_line_per_cause_then_one_a_minute_counting(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    refused = Refusals(LOG, clock=clock)
    for index in range(200):  # 200 forged requests in 20 s, three causes in turn
        clock.t += 0.1
        cause = ("unsigned", "bad signature", "stale timestamp")[index % 3]
        refused(cause, f"refused ({cause})")
    assert lines(caplog) == [
        "refused (unsigned)",
        "refused (bad signature)",
        "refused (stale timestamp)",
    ]
    clock.t += 60
    refused("unsigned", "refused (unsigned)")
    refused("unsigned", "refused (unsigned)")
    assert lines(caplog)[3:] == [
        "refused (unsigned) (and 67 more refused for this cause since the last such line)"
    ]


def test_a_lasting_fact_is_said_once_per_key(caplog: pytest.LogCaptureFixture) -> None:
    once = Once(LOG)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        said = [once("7", "project %s: refused", "7") for _ in range(3)]
        said.append(once("8", "project %s: refused", "8"))
    assert said == [True, False, False, True]
    assert lines(caplog) == ["project 7: refused", "project 8: refused"]
    assert [getattr(r, "project", None) for r in caplog.records] == ["7", "8"]
