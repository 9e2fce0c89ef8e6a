"""When a channel's daily digest is due (pure): the time's grammar, today or tomorrow, once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.digest import at_text, first_day_done, is_due, parse_at

NOON = datetime(2026, 12, 7, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("word", "minute"),
    [
        ("09:00", 540), ("9:05", 545), ("00:00", 0), ("23:59", 1439), (" 12:30 ", 750),
        ("24:00", None), ("12:60", None), ("12", None), ("12:5", None), ("noon", None),
        ("-1:00", None), ("12:00am", None), ("１２:００", None), ("", None),
    ],
)  # fmt: skip
def test_parse_at(word: str, minute: int | None) -> None:
    assert parse_at(word) == minute


@given(st.text(max_size=12))
def test_any_text_is_a_minute_of_the_day_or_none(word: str) -> None:
    minute = parse_at(word)
    assert minute is None or (0 <= minute < 1440 and parse_at(at_text(minute)) == minute)


@given(st.integers(0, 1439))
def test_every_minute_reads_back(minute: int) -> None:
    assert parse_at(at_text(minute)) == minute


def test_due_from_its_minute_once_a_day() -> None:
    assert not is_due(12 * 60 + 1, None, NOON)  # a minute early
    assert is_due(12 * 60, None, NOON)  # its minute
    assert is_due(9 * 60, "2026-12-06", NOON)  # passed, yesterday's done
    assert not is_due(9 * 60, "2026-12-07", NOON)  # today's done


def test_a_time_already_passed_today_starts_tomorrow() -> None:
    assert first_day_done(11 * 60, NOON) == "2026-12-07"
    assert first_day_done(12 * 60, NOON) is None  # the current minute: today
    assert first_day_done(13 * 60, NOON) is None
