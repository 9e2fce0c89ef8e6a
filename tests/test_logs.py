"""LOG_FORMAT and LOG_LEVEL (`bot.logs`): one JSON object per line; a bad value is one line."""

from __future__ import annotations

import json
import logging

import pytest

from bot import logs
from bot.cli import main
from bot.errors import ConfigError
from bot.settings import Settings, load_settings


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_project_channel(
    capsys: pytest.CaptureFixture[str], restore_logging: object
) -> None:
    logs.configure("INFO", "json")
    log = logging.getLogger("bot.test")
    log.warning("posting to %s failed\nsecond line", "C1", extra={"project": "7", "channel": "C1"})
    log.debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("unexpected")
    out = capsys.readouterr().err.splitlines()
    assert len(out) == 2, out  # one line each, the newline and the traceback inside
    first, second = (json.loads(line) for line in out)
    assert first["level"] == "WARNING" and first["logger"] == "bot.test"
    assert first["message"] == "posting to C1 failed\nsecond line"
    assert (first["project"], first["channel"]) == ("7", "C1")
    assert first["time"].endswith("+00:00")
    assert second["project"] is None and "ValueError: boom" in second["traceback"]


def test_text_is_the_default_and_debug_also_lets_the_libraries_speak(
    capsys: pytest.CaptureFixture[str], restore_logging: object
) -> None:
    logs.configure("DEBUG")
    assert logging.getLogger("apscheduler").level == logging.DEBUG
    logging.getLogger("bot.test").info("hello")
    assert " INFO bot.test: hello" in capsys.readouterr().err
    logs.configure("INFO")
    assert logging.getLogger("apscheduler").level == logging.WARNING


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG, INFO, WARNING"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json (got 'xml')"),
    ],
)
def test_a_bad_value_is_one_line(
    variable: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_run_with_a_bad_log_level_ends_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("eon-bot: invalid settings: LOG_LEVEL must be one of DEBUG") and (
        "\n" not in err
    )


def test_level_names_are_taken_in_any_case() -> None:
    assert Settings.given(log_level=" debug ").log_level == "DEBUG"
