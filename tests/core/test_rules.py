"""The grammar of a threshold alert (a table, and any text at all), and what meets a rule."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.rules import FIELDS, MAX_CONDITIONS, Condition, Rule, RuleError, parse_rule


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("accuracy>=0.92 latency<=50", "accuracy>=92% latency<=50ms"),
        ("accuracy>=92%", "accuracy>=92%"),
        ("accuracy>=92", "accuracy>=92%"),  # over 1: a percent
        ("accuracy>1", "accuracy>100%"),  # 1 or less: a fraction
        ("accuracy>=0.921", "accuracy>=92.1%"),
        ("ACCURACY >= 92 % Latency <= 50 ms", "accuracy>=92% latency<=50ms"),
        ("latency≤50 accuracy≥0.9", "latency<=50ms accuracy>=90%"),
        ("ram<=64KB rom<1.5MB", "ram<=64KB rom<1.5MB"),
        ("ram<=65536 rom<=1572864B", "ram<=64KB rom<=1.5MB"),
        ("ram<=64KiB rom<2MiB", "ram<=64KB rom<2MB"),
        ("ram<=1.3kb", "ram<=1.3KB"),
        ("rom<=1GB", "rom<=1GB"),
        ("ram<=1000", "ram<=1000B"),
        ("ram<=123456789012345", "ram<=123456789012345B"),
        ("latency<.5", "latency<0.5ms"),
        ("latency>3. accuracy<0", "latency>3ms accuracy<0%"),
    ],
)
def test_rules_read_and_spell_one_way(text: str, canonical: str) -> None:
    rule = parse_rule(text)
    assert isinstance(rule, Rule), rule
    assert rule.text == canonical
    assert parse_rule(canonical) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency<=fast", "'latency<=fast': the value must be a number"),
        ("speed<3", "'speed<3': 'speed' is not a figure: use accuracy, latency, ram or rom"),
        ("<3", "'<3': name the figure first: accuracy, latency, ram or rom"),
        ("accuracy0.9", "'accuracy0.9': no comparison: write it as FIELD>=VALUE"),
        ("accuracy=>0.9", "'accuracy=>0.9': compare with >=, <=, > or < (not =>)"),
        ("accuracy=0.9", "'accuracy=0.9': compare with >=, <=, > or < (not =)"),
        ("ram<=-5", "'ram<=-5': the value must not be negative"),
        ("accuracy>=120%", "'accuracy>=120%': accuracy is at most 100%"),
        ("accuracy>=101", "'accuracy>=101': accuracy is at most 100%"),
        ("latency<=50KB", "'latency<=50KB': latency is in ms (50 or 50ms)"),
        ("ram<=50ms", "'ram<=50ms': RAM is in bytes, KB, MB or GB (64KB)"),
        ("accuracy>=92ms", "'accuracy>=92ms': accuracy is a fraction (0.92) or a percent"),
        ("rom>=1e5", "'rom>=1e5': the value must be a number"),
        ("latency<=nan", "'latency<=nan': the value must be a number"),
        ("latency<=" + "9" * 400, "the value is too large"),
        ("latency<=50 ram", "'ram': no comparison"),
        ("", "An alert needs at least one condition, e.g. accuracy>=0.92 latency<=50"),
        ("latency<=1 " * 9, f"An alert has at most {MAX_CONDITIONS} conditions, not 9"),
    ],
)
def test_a_malformed_rule_says_what_is_wrong(text: str, message: str) -> None:
    found = parse_rule(text)
    assert isinstance(found, RuleError)
    assert message in found.message
    assert "\n" not in found.message


@given(st.text(max_size=300))
def test_any_text_is_a_rule_or_one_line_saying_what_is_wrong(text: str) -> None:
    found = parse_rule(text)
    if isinstance(found, RuleError):
        assert found.message and "\n" not in found.message and len(found.message) < 300
    else:
        assert 1 <= len(found.conditions) <= MAX_CONDITIONS
        assert parse_rule(found.text) == found  # what is stored reads back the same


conditions = st.tuples(
    st.sampled_from(FIELDS),
    st.sampled_from([">=", "<=", ">", "<", "≥", "≤", "=>", "=", "=="]),
    st.one_of(
        st.decimals(0, 2000, places=3).map(str),
        st.integers(0, 10**9).map(str),
        st.text("0123456789.-e", max_size=8),
    ),
    st.sampled_from(["", "%", "ms", "KB", "kib", "MB", "b", "GB", " %", " ms", "s", "x"]),
    st.sampled_from(["", " "]),
).map(lambda c: f"{c[0]}{c[4]}{c[1]}{c[4]}{c[2]}{c[3]}")


@given(st.lists(conditions, max_size=MAX_CONDITIONS + 1))
def test_rules_near_the_grammar_parse_or_say_what_is_wrong(words: list[str]) -> None:
    found = parse_rule(" ".join(words))
    if isinstance(found, RuleError):
        assert found.message and "\n" not in found.message
    else:
        assert len(found.conditions) == len(words)
        assert parse_rule(found.text) == found


def figures(**numbers: Any) -> dict[str, Any]:
    return {"accuracy": 0.92, "latency_ms": 50.0, "ram_bytes": 65536, "rom_bytes": 1572864} | {
        key: value for key, value in numbers.items()
    }


@pytest.mark.parametrize(
    ("text", "numbers", "met"),
    [
        ("accuracy>=0.92 latency<=50", figures(), True),  # equal meets >= and <=
        ("accuracy>=92% latency<=50ms", figures(), True),
        ("accuracy>0.92", figures(), False),
        ("latency<50", figures(), False),
        ("accuracy>=0.921", figures(accuracy=0.921), True),  # no float noise at 92.1%
        ("accuracy>=0.92", figures(accuracy=0.9199), False),
        ("ram<=64KB rom<=1.5MB", figures(), True),
        ("ram<64KB", figures(), False),
        ("ram<=64KB", figures(ram_bytes=65537), False),
        ("rom>1MB", figures(), True),
        ("accuracy>=0.5", figures(accuracy=None), False),  # unknown never meets
        ("latency<=1000", figures(latency_ms=None), False),
        ("latency<=1000", figures(latency_ms=float("nan")), False),
        ("accuracy>=0.5", figures(accuracy=True), False),
        ("accuracy>=0.5", figures(accuracy="0.9"), False),
        ("ram<=1MB", {"ram_bytes": 100}, True),  # only the figures named matter
    ],
)
def test_a_rule_is_met_only_when_every_condition_holds(
    text: str, numbers: dict[str, Any], met: bool
) -> None:
    rule = parse_rule(text)
    assert isinstance(rule, Rule)
    assert rule.met_by(numbers) is met


def test_a_condition_is_kept_in_its_fields_unit() -> None:
    rule = parse_rule("accuracy>=0.9 latency<=1.5 ram<=2KB")
    assert isinstance(rule, Rule)
    assert rule.conditions == (
        Condition("accuracy", ">=", 90.0),
        Condition("latency", "<=", 1.5),
        Condition("ram", "<=", 2048.0),
    )
