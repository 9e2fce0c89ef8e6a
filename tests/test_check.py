"""`eon-bot check` against the Slack stand-in, the Socket Mode server and the simulator over
real HTTP, with `run`'s own wiring: every ✗ comes with a fix, and exit 0 only if all pass."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.cli.check import FAIL, PASS, check
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.socketmode import SocketModeServer
from bot.settings import Settings
from bot.slack.auth import REQUIRED_SCOPES

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

BOT, APP, KEY = "xoxb-check", "xapp-check", "ei_check_key_0123"


@dataclass
class World:
    slack: FakeSlack
    simulator: SimulatorServer
    folder: Path

    async def check(self, *projects: str, **settings: Any) -> tuple[int, list[str]]:
        values = {
            "slack_bot_token": BOT,
            "slack_app_token": APP,
            "slack_api_url": self.slack.api_url,
            "ei_api_url": self.simulator.url,
            "ei_api_key": KEY,
            "database_url": f"sqlite:///{self.folder}/eon-bot.db",
        } | settings
        out = io.StringIO()
        code = await check(projects, settings=Settings.given(**values), out=out)
        return code, out.getvalue().splitlines()


@asynccontextmanager
async def world(tmp_path: Path, scopes: list[str] | None = None) -> AsyncIterator[World]:
    async with (
        FakeSlack(token=BOT, scopes=scopes) as slack,
        SocketModeServer() as sockets,
        SimulatorServer(api_key=KEY) as simulator,
    ):
        slack.enable_socket_mode(APP, sockets.open_url)
        yield World(slack, simulator, tmp_path)


def rows(lines: list[str], mark: str) -> list[str]:
    return [line for line in lines if line.startswith(mark)]


async def test_a_good_configuration_passes_everything(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        code, lines = await w.check("1", "2")
    assert code == 0, "\n".join(lines)
    assert not rows(lines, FAIL)
    names = [line[2:19].strip() for line in rows(lines, PASS)]
    assert names == [
        "settings",
        "SLACK_BOT_TOKEN",
        "Slack mode",
        "Slack scopes",
        "SLACK_APP_TOKEN",
        "database",
        "SECRET_KEY",
        "EI_API_KEY",
        "project 1",
        "project 2",
    ]
    assert "(key: default (EI_API_KEY))" in lines[-1]
    assert len(w.slack.calls_to("auth.test")) == 1


async def test_stored_keys_and_secret_key(tmp_path: Path) -> None:
    """A stored key is named as the source and used before the default; under another
    SECRET_KEY it is one ✗ line with its fix, and nothing is sent to Edge Impulse for it."""
    from pydantic import SecretStr

    from bot.keys import KeyRing
    from bot.store import Store

    secret, other = "s" * 40, "o" * 40
    store = await Store.open(f"sqlite:///{tmp_path}/eon-bot.db")
    try:
        base = Settings.given(secret_key=SecretStr(secret))
        await KeyRing(base, store).add("", "1", SecretStr(KEY), role="admin", user="U1")
    finally:
        await store.close()
    async with world(tmp_path) as w:
        code, lines = await w.check("1", ei_api_key="ei_wrong_default_00", secret_key=secret)
        assert code == 0, "\n".join(lines)
        assert "✓ SECRET_KEY        set; 1 stored key(s) open with it" in lines
        assert lines[-1].endswith("(key: stored (/eon key))")
        asked = w.simulator.controller.requests("1")
        code, lines = await w.check("1", ei_api_key="ei_wrong_default_00", secret_key=other)
        assert w.simulator.controller.requests("1") == asked  # the default never stood in
    text = "\n".join(lines)
    assert code == 1
    (line,) = [row for row in rows(lines, FAIL) if "SECRET_KEY" in row[:20]]
    assert "project(s) 1" in line and "another SECRET_KEY" in line, text
    assert "(key: stored, unreadable)" in text
    assert KEY not in text and secret not in text and other not in text
    # No SECRET_KEY at all: stored but sealed, not "no key"; the fix is the old secret, not a
    # new one (which would not open them either).
    async with world(tmp_path) as w:
        code, lines = await w.check("1", ei_api_key="ei_wrong_default_00")
    text = "\n".join(lines)
    assert code == 1
    (line,) = [row for row in rows(lines, FAIL) if "SECRET_KEY" in row[:20]]
    assert "project(s) 1" in line and "need SECRET_KEY, unset" in line, text
    assert "token_urlsafe" not in text and "a new secret does not open them" in text, text
    assert "(key: stored, unreadable)" in text and "no Edge Impulse API key" not in text


async def test_each_problem_is_a_cross_with_its_fix(tmp_path: Path) -> None:
    scopes = [s for s in REQUIRED_SCOPES if s != "chat:write.public"]
    async with world(tmp_path, scopes=scopes) as w:
        code, lines = await w.check(
            "1", "abc", slack_app_token="xapp-revoked", ei_api_key="ei_wrong_key_0000"
        )
    text = "\n".join(lines)
    assert code == 1
    failed = rows(lines, FAIL)
    assert len(failed) == 4, text
    assert "missing chat:write.public" in text
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in text
    assert "Edge Impulse refused the API key (HTTP 401)" in text
    assert "not a project id: 'abc'" in text
    assert text.count("fix: ") == len(failed)
    assert "ei_wrong_key_0000" not in text and "xapp-revoked" not in text


async def test_a_refused_bot_token_and_a_closed_database(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        code, lines = await w.check(
            slack_bot_token="xoxb-your-bot-token",
            database_url="postgresql://postgres@127.0.0.1:9/nothing",
        )
    text = "\n".join(lines)
    assert code == 1
    assert "✗ SLACK_BOT_TOKEN   Slack refused SLACK_BOT_TOKEN (invalid_auth)" in text
    assert "✗ database" in text and "DATABASE_URL" in text


async def test_watched_projects_are_fetched_too(tmp_path: Path) -> None:
    from bot.store import Store

    async with world(tmp_path) as w:
        store = await Store.open(f"sqlite:///{tmp_path}/eon-bot.db")
        await store.subscribe(T, "C1", "3", added_by="U1")
        await store.close()
        code, lines = await w.check("1")
    assert code == 0
    assert [line.split()[2] for line in lines if "project " in line] == ["1", "3"]
    assert w.simulator.controller.requests("3") == 1


async def test_no_mode_for_slack_is_a_cross(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        code, lines = await w.check(slack_app_token=None, slack_signing_secret=None)
    assert code == 1
    assert any("Slack mode" in line and line.startswith(FAIL) for line in lines)


@pytest.mark.parametrize("variable", ["POLL_INTERVAL", "PORT"])
async def test_unreadable_settings_are_one_cross(
    variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, "abc")
    out = io.StringIO()
    assert await check([], out=out) == 1
    assert f"✗ settings          invalid settings: {variable} must be " in out.getvalue()
    assert "(got 'abc')" in out.getvalue()


async def test_no_edge_impulse_key_at_all_is_a_cross(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        code, lines = await w.check(ei_api_key=None)
        assert code == 1
        (line,) = rows(lines, FAIL)
        assert line.startswith("✗ EI_API_KEY") and "no project can be polled" in line
        code, lines = await w.check(ei_api_key=None, project_keys={"1": KEY})
        assert code == 0, "\n".join(lines)
        assert "✓ EI_API_KEY        not set; 1 project(s) have a key of their own" in lines


async def test_a_sqlite_file_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "eon-bot.db"
    async with world(tmp_path) as w:
        (tmp_path / "nested").mkdir()
        code, lines = await w.check(database_url=f"sqlite:///{database}")
        assert code == 0, "\n".join(lines)
        said = f"✓ database          {database} does not exist yet; `eon-bot run` creates it"
        assert said in lines
        assert not database.exists()
        code, lines = await w.check(database_url=f"sqlite:///{tmp_path}/gone/eon-bot.db")
        assert code == 1 and "✗ database" in "\n".join(lines)
