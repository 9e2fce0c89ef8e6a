"""`eon-bot run` answers a health check before Slack and the database do: a platform (Docker,
Heroku) kills a process whose port gives no connection. While Slack cannot be reached at
start, `/healthz` says 503 and why, `/metrics` answers, and the log says so once, not once per
attempt."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import BotProcess, e2e_stack, explain, free_port

pytestmark = pytest.mark.e2e

HANG_GUARD_S = 30.0  # imports on a loaded machine; the figure asserted is measured apart
FIRST_ANSWER_S = 1.0  # from the first log line (the settings read) to /healthz's answer
WATCHED_S = 8.0  # Slack refused 5 times in this long (1, 2, 4 s backoff): one line


@contextmanager
def unreachable_slack(kind: str) -> Iterator[str]:
    """A SLACK_API_URL that refuses connections, or accepts and never answers."""
    if kind == "refuses":
        yield f"http://127.0.0.1:{free_port()}/api/"
        return
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel accepts; nobody reads or answers
        yield f"http://127.0.0.1:{silent.getsockname()[1]}/api/"


async def first_answer(bot: BotProcess) -> tuple[httpx.Response, float]:
    """The first answer `/healthz` gives, and when (loop time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    async with httpx.AsyncClient(timeout=5.0) as http:
        while True:
            assert bot.running, bot.logs()
            try:
                return await http.get(bot.health_url), loop.time()
            except httpx.TransportError:
                assert loop.time() < deadline, "no answer on /healthz"
                await asyncio.sleep(0.02)


async def says(http: httpx.AsyncClient, bot: BotProcess, reason: str) -> None:
    """Until `/healthz`'s reason says `reason` (a hang guard, not a speed limit)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    while reason not in (body := (await http.get(bot.health_url)).json())["reason"]:
        assert bot.running, bot.logs()
        assert loop.time() < deadline, body
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["refuses", "hangs"])
async def test_healthz_says_503_at_once_while_slack_cannot_be_reached(
    tmp_path: Path, kind: str
) -> None:
    with unreachable_slack(kind) as url:
        async with e2e_stack(tmp_path, extra_env={"SLACK_API_URL": url}) as stack:
            bot = stack.bot
            with explain(bot):
                await bot.start(wait=False)
                answer, _ = await first_answer(bot)
                assert answer.status_code == 503, answer.text
                body = answer.json()
                assert body["ok"] is False and body["reason"].startswith("starting:"), body
                assert "listening" not in bot.log_text()  # the bot itself is not started

                async with httpx.AsyncClient(timeout=5.0) as http:
                    metrics = await http.get(f"{bot.base_url}/metrics")
                    assert metrics.status_code == 200 and "eonbot_" in metrics.text
                    events = await http.post(bot.events_url, content=b"{}")
                    assert events.status_code == 503

                    if kind == "refuses":  # once loaded (slow on a busy machine), it asks Slack
                        await says(http, bot, "Slack does not answer auth.test")
                    await asyncio.sleep(WATCHED_S)  # the span whose log is counted
                    later = (await http.get(bot.health_url)).json()
                assert later["ok"] is False, later
                if kind == "refuses":
                    assert "Slack does not answer auth.test" in later["reason"], later
                stopped = await bot.terminate()
                assert stopped.returncode == 0 and stopped.seconds < 10
            log = bot.log_text()
            slack_lines = [line for line in log.splitlines() if "Slack" in line]
            if kind == "refuses":
                assert len(slack_lines) == 1, log
                assert "Slack is down: auth.test" in slack_lines[0], log
            else:  # slack_sdk's 10 s timeout: at most the one line in this span
                assert len(slack_lines) <= 1, log
            assert "Traceback" not in log and stack.bot.env["SLACK_BOT_TOKEN"] not in log


async def test_healthz_answers_within_a_second_of_the_settings_being_read(
    tmp_path: Path,
) -> None:
    """Measured from the process's first line (written once the settings are read)."""
    with unreachable_slack("hangs") as url:
        async with e2e_stack(
            tmp_path, extra_env={"SLACK_API_URL": url, "LOG_LEVEL": "DEBUG"}
        ) as stack:
            bot = stack.bot
            loop = asyncio.get_running_loop()
            with explain(bot):
                await bot.start(wait=False)
                while not bot.log_text():  # the first line: settings read, logging set up
                    assert bot.running, bot.logs()
                    await asyncio.sleep(0.01)
                first_line = loop.time()
                answer, at = await first_answer(bot)
                assert answer.status_code == 503
                assert at - first_line < FIRST_ANSWER_S, at - first_line
                await bot.terminate()


async def test_a_taken_port_is_named_at_once_before_slack_is_asked(tmp_path: Path) -> None:
    with socket.socket() as taken, unreachable_slack("hangs") as url:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"PORT": str(port), "SLACK_API_URL": url}
        async with e2e_stack(tmp_path, extra_env=env) as stack:
            bot = stack.bot
            await bot.start(wait=False)
            stopped = await bot.reap(within=HANG_GUARD_S)
            assert stopped.returncode == 2, bot.logs()
            log = bot.log_text()
            assert f"PORT={port}" in log and "in use" in log and "Slack" not in log, log
