"""A setting eon-bot cannot use is refused in plain words, the same words for every numeric or
enum setting (one mapping from pydantic's error types, the bounds read from the field), and an
empty variable means its default, as a `.env` template leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("PORT", "abc", "PORT must be a whole number from 0 to 65535 (got 'abc')"),
        ("PORT", "70000", "PORT must be a whole number from 0 to 65535 (got '70000')"),
        ("PORT", "3000.5", "PORT must be a whole number from 0 to 65535 (got '3000.5')"),
        ("POLL_INTERVAL", "-1", "POLL_INTERVAL must be a number above 0 (got '-1')"),
        ("POLL_INTERVAL", "soon", "POLL_INTERVAL must be a number above 0 (got 'soon')"),
        ("OUTAGE_NOTICE_AFTER", "-5", "OUTAGE_NOTICE_AFTER must be a number 0 or more (got '-5')"),
        ("STALL_AFTER", "0", "STALL_AFTER must be a number above 0 (got '0')"),
        ("RETENTION_DAYS", "x", "RETENTION_DAYS must be a number above 0 (got 'x')"),
        ("EI_MAX_RESPONSE_MB", "0", "EI_MAX_RESPONSE_MB must be a number above 0 (got '0')"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json (got 'xml')"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_a_bad_value_is_said_in_plain_words(
    variable: str, value: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"invalid settings: {said}")
    assert "Input should" not in str(refused.value) and "\n" not in str(refused.value)


def test_a_long_value_is_not_shown_it_may_be_a_key_in_the_wrong_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLL_INTERVAL", "ei_" + "5" * 64)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == "invalid settings: POLL_INTERVAL must be a number above 0"


@pytest.mark.parametrize(
    "variable",
    ["PORT", "POLL_INTERVAL", "STALL_AFTER", "LOG_FORMAT", "LOG_LEVEL", "ADMIN_USER_IDS",
     "SECRET_KEY", "EI_MAX_RESPONSE_MB", "DATABASE_URL"],
)  # fmt: skip
def test_an_empty_variable_means_its_default(
    variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"{variable}=\n")  # as a template leaves it
    name = variable.lower()
    assert getattr(load_settings(), name) == Settings.model_fields[name].get_default(
        call_default_factory=True
    )
    monkeypatch.setenv(variable, "")
    assert getattr(load_settings(), name) == Settings.model_fields[name].get_default(
        call_default_factory=True
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_port_text_is_read_or_refused_in_the_same_words(text: str) -> None:
    try:
        port = Settings.given(port=text).port
    except Exception as error:  # noqa: BLE001 - the words are what is checked
        from pydantic import ValidationError

        from bot.settings import settings_problem

        assert isinstance(error, ValidationError)
        said = settings_problem(error)
        assert said.startswith("invalid settings: PORT must be a whole number from 0 to 65535")
        assert "Input should" not in said and "\n" not in said
    else:
        assert 0 <= port <= 65535
