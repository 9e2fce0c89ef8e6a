"""How numbers look: tables of values and the text a person sees."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import fmt

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.913, "91.3%"),
        (0.9126, "91.3%"),
        (1.0, "100.0%"),
        (0.0, "0.0%"),
        (0.5, "50.0%"),
        (None, "—"),
        (NAN, "—"),
        (INF, "—"),
    ],
)
def test_percent(value: float | None, text: str) -> None:
    assert fmt.percent(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12, "12 ms"),
        (12.4, "12 ms"),
        (123.6, "124 ms"),
        (10, "10 ms"),
        (9.9, "9.9 ms"),
        (9.96, "10 ms"),
        (0.8, "0.8 ms"),
        (0.84, "0.8 ms"),
        (0, "0.0 ms"),
        (2500, "2500 ms"),
        (None, "—"),
        (-1, "—"),
        (NAN, "—"),
    ],
)
def test_latency(value: float | None, text: str) -> None:
    assert fmt.latency(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (38_400, "37.5 KB"),
        (1_048_575, "1.0 MB"),
        (1_048_576, "1.0 MB"),
        (1_258_291, "1.2 MB"),
        (3 * 1024**3, "3.0 GB"),
        (5000 * 1024**3, "5000.0 GB"),
        (None, "—"),
        (-5, "—"),
        (INF, "—"),
    ],
)
def test_size(value: float | None, text: str) -> None:
    assert fmt.size(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (45.9, "45s"),
        (60, "1m 00s"),
        (750, "12m 30s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (3900, "1h 05m"),
        (7200, "2h 00m"),
        (90_000, "25h 00m"),
        (None, "—"),
        (-1, "—"),
        (NAN, "—"),
    ],
)
def test_duration(value: float | None, text: str) -> None:
    assert fmt.duration(value) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (0.52, "▓▓▓▓▓░░░░░ 52%"),
        (0.0, "░░░░░░░░░░ 0%"),
        (1.0, "▓▓▓▓▓▓▓▓▓▓ 100%"),
        (0.999, "▓▓▓▓▓▓▓▓▓░ 99%"),
        (0.29, "▓▓░░░░░░░░ 29%"),
        (0.1, "▓░░░░░░░░░ 10%"),
        (1.5, "▓▓▓▓▓▓▓▓▓▓ 100%"),
        (-0.2, "░░░░░░░░░░ 0%"),
        (None, "░░░░░░░░░░ —"),
        (NAN, "░░░░░░░░░░ —"),
    ],
)
def test_progress_bar(fraction: float | None, text: str) -> None:
    assert fmt.progress_bar(fraction) == text


def test_progress_bar_width() -> None:
    assert fmt.progress_bar(0.5, width=4) == "▓▓░░ 50%"


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_progress_bar_is_always_the_same_width(fraction: float | None) -> None:
    bar = fmt.progress_bar(fraction).split(" ")[0]
    assert len(bar) == fmt.BAR_WIDTH


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_formatters_never_raise(value: float | None) -> None:
    for formatter in (fmt.percent, fmt.latency, fmt.size, fmt.duration):
        assert formatter(value)


@pytest.mark.parametrize(("count", "text"), [(0, "0 trials"), (1, "1 trial"), (2, "2 trials")])
def test_plural(count: int, text: str) -> None:
    assert fmt.plural(count, "trial") == text


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("short", 200, "short"),
        ("two\nlines\t and  tabs", 200, "two lines and tabs"),
        ("\x1b[31mred\x1b[0m", 200, "?[31mred?[0m"),
        ("abc\u202edef", 200, "abc?def"),
        ("x" * 10, 5, "xxxx…"),
        ("word " * 10, 11, "word word…"),
        ("", 10, ""),
    ],
)
def test_one_line(text: str, limit: int, shown: str) -> None:
    assert fmt.one_line(text, limit) == shown


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_one_line_is_one_line_within_the_limit(text: str, limit: int) -> None:
    shown = fmt.one_line(text, limit)
    assert len(shown) <= limit
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown


@pytest.mark.parametrize(
    ("text", "secrets", "shown"),
    [
        ("key ei_0123456789 echoed", ["ei_0123456789"], "key *** echoed"),
        ("a ei_0123456789 b ei_0123456789", ["ei_0123456789", "other-secret"], "a *** b ***"),
        ("the key may be wrong", ["wrong"], "the key may be wrong"),  # too short to be a key
        ("nothing here", [], "nothing here"),
        # Token-shaped text is masked even when the secret is not known here.
        ("invalid_auth for xoxb-123-abc", [], "invalid_auth for xoxb-***"),
        ("app xapp-1-A0-xyz and key ei_abcdef", [], "app xapp-*** and key ei_***"),
        ("not a token: noxoxb-1 or deixoxb", [], "not a token: noxoxb-1 or deixoxb"),
    ],
)
def test_redact(text: str, secrets: list[str], shown: str) -> None:
    assert fmt.redact(text, secrets) == shown
