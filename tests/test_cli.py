"""The command line as a person meets it: --version, --help pages, argument mistakes."""

from __future__ import annotations

import contextlib
import io
from importlib.metadata import version
from pathlib import Path

import pytest

from bot import config
from bot.cli import main
from bot.settings import Settings

SUBCOMMANDS = ["run", "check", "status", "demo", "simulate", "manifest"]


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"eon-bot {version('eon-bot')}"


def test_every_subcommand_is_documented() -> None:
    listed = _page([])
    for name in SUBCOMMANDS:
        assert name in listed
        page = _help(name)
        assert page.count("\n") > 4
        assert "environment variables (also read from ./.env):" in page or (
            "reads no environment variables" in page
        )


def test_run_help_names_every_setting_with_its_default() -> None:
    page = _help("run")
    for name, field in Settings.model_fields.items():
        shown = "EI_API_KEY_<id>" if name == "project_keys" else name.upper()
        assert shown in page, f"{shown} missing from `eon-bot run --help`"
        if field.default not in (None, frozenset()) and name != "project_keys":
            assert f"(default: {field.default})" in page


def test_simulate_help_shows_defaults() -> None:
    page = _help("simulate")
    assert "(default: 1.0)" in page and "(default: 8765)" in page


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["simulate", "--speed", "-5"], "--speed: must be a number above 0, not -5"),
        (["simulate", "--speed", "0"], "--speed: must be a number above 0"),
        (["simulate", "--speed", "nan"], "--speed: must be a number above 0"),
        (["simulate", "--speed", "fast"], "--speed: not a number"),
        (["simulate", "--port", "70000"], "--port: a port is a whole number 0-65535"),
        (["simulate", "--port", "-1"], "--port: a port is a whole number 0-65535"),
        (["status"], "required: PROJECT_ID"),
        (["nope"], "invalid choice"),
    ],
)
def test_argument_mistakes_are_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert err.startswith("eon-bot")


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        ([], config.HTTP_MANIFEST),
        (["--socket-mode"], config.SOCKET_MODE_MANIFEST),
        (["--env-example"], config.ENV_EXAMPLE),
    ],
)
def test_manifest_prints_the_shipped_file(
    flags: list[str], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifest", *flags]) == 0
    assert capsys.readouterr().out == config.read(name)


def _help(name: str) -> str:
    return _page([name])


def _page(argv: list[str]) -> str:
    """What `eon-bot ARGV --help` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return out.getvalue()


def test_apschedulers_line_per_skipped_poll_is_dropped_and_nothing_else() -> None:
    """Falling behind, APScheduler would log every project at every interval; the poller says
    it once a minute instead (tests/test_poll_cost.py)."""
    import logging

    from bot.cli import SkippedRuns

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("apscheduler.scheduler", logging.WARNING, "", 0, message, (), None)

    skipped = (
        'Execution of job "Poller.poll (trigger: interval[0:00:10], next run at: 2026-11-29 '
        '17:05:02 UTC)" skipped: maximum number of running instances reached (1)'
    )
    assert SkippedRuns().filter(record(skipped)) is False
    assert SkippedRuns().filter(record("Scheduler started")) is True


@pytest.mark.parametrize("command", ["demo", "try"])
@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_a_keep_folder_that_cannot_be_made_is_one_line(
    command: str,
    where: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # `try` reads what is typed
    (tmp_path / "a-file").write_text("not a folder")
    keep = tmp_path / where
    assert main([command, "--keep", str(keep)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--keep {keep}: cannot work there" in err, err
    assert "Traceback" not in err
