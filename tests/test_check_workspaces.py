"""`eon-bot check` with many workspaces ("Add to Slack"): no bot token to ask Slack about, the
app's credentials named (never the secret), and the workspaces counted from the database."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.check import FAIL, PASS, check
from bot.settings import Settings
from bot.store import SealedInstallation, Store

SECRET = "client-secret-" + "q" * 20


async def run_check(tmp_path: Path, **values: Any) -> tuple[int, list[str]]:
    settings = {
        "slack_client_id": "1111.2222",
        "slack_client_secret": SECRET,
        "slack_signing_secret": "signing",
        "slack_api_url": "http://127.0.0.1:9/api/",  # nothing listens: no call is made
        "secret_key": "k" * 40,
        "ei_api_key": "ei_check_key_0123",
        "database_url": f"sqlite:///{tmp_path}/eon-bot.db",
    } | values
    out = io.StringIO()
    code = await check([], settings=Settings.given(**settings), out=out)
    return code, out.getvalue().splitlines()


async def test_workspaces_are_counted_and_the_secret_never_shown(tmp_path: Path) -> None:
    code, lines = await run_check(tmp_path)
    assert code == 0, lines
    assert any(line.startswith(f"{PASS} workspaces") and "none installed yet" in line
               for line in lines)  # fmt: skip

    store = await Store.open(f"sqlite:///{tmp_path}/eon-bot.db")
    try:
        for team in ("T1", "T2", "T3"):
            await store.put_installation(
                SealedInstallation(
                    team,
                    None,
                    team,
                    False,
                    "A1",
                    "B1",
                    "U0BOT",
                    "commands",
                    "U0ADA",
                    datetime.now(UTC),
                    "sealed",
                )  # fmt: skip
            )
        await store.revoke_installation("T3")
    finally:
        await store.close()
    code, lines = await run_check(tmp_path)
    text = "\n".join(lines)
    assert code == 0, text
    assert f"{PASS} workspaces        2 installed; 1 left, deleted 7 days after" in lines, text
    assert any(line.startswith(f"{PASS} Slack app") and "1111.2222" in line for line in lines)
    assert "SLACK_BOT_TOKEN" not in text and SECRET not in text


async def test_a_missing_client_id_is_a_cross_with_its_fix(tmp_path: Path) -> None:
    code, lines = await run_check(tmp_path, slack_client_id=None)
    assert code == 1
    (failed,) = [line for line in lines if line.startswith(FAIL)]
    assert "SLACK_CLIENT_ID not set" in failed
    assert any("App Credentials" in line for line in lines)
