"""The database goes away for 10 s under load, and the log says so in tens of lines, not
thousands (issue 21: 22,000 lines and 195 tracebacks a replica for a 30 s outage).

The real `eon-bot run` on PostgreSQL through a TCP proxy that the test cuts (every connection
dropped, new ones refused) and restores, while 10 projects whose runs move at every poll are
polled every 0.2 s (50 polls a second, each of which writes), delivery drains, leases are
renewed, and a platform probes `/healthz` twice a second. What must be logged: the database
down once (what failed, the fix), back once, no traceback; `/healthz` 503 meanwhile, 200 after;
and what the polls saw while it was away is posted once it is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.server import SimulatorServer

from .harness import EI_KEY, TOKEN, BotProcess, bot_environment, explain
from .tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PROJECTS = [str(n) for n in range(1, 11)]
CHANNELS = [f"C0OUTAGE{n}" for n in range(5)]
POLL_INTERVAL_S = 0.2
SPEED = 40.0  # simulated seconds a second: every poll sees a changed document
OUTAGE_S = 10.0
AT_MOST_LINES = 60  # "tens, not thousands"
SETTLE_TIMEOUT_S = 60.0


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def _lines(bot: BotProcess) -> list[str]:
    return bot.log_text().splitlines()


async def _wait_for(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.1)


async def test_a_database_outage_is_tens_of_lines_not_thousands(
    postgres_url: str, tmp_path: Path
) -> None:
    target = urlsplit(postgres_url)
    async with (
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
        SimulatorServer(api_key=EI_KEY, trials=24, speed=SPEED) as simulator,
        FakeSlack(token=TOKEN) as slack,
        httpx.AsyncClient(timeout=5.0) as http,
    ):
        env = bot_environment(
            slack_api_url=slack.api_url,
            ei_api_url=simulator.url,
            database_url=_through(postgres_url, proxy.port),
            poll_interval=POLL_INTERVAL_S,
        )
        bot = BotProcess(tmp_path, env)
        try:
            with explain(bot):
                await bot.start()
                for index, project in enumerate(PROJECTS):
                    reply = await bot.command(
                        http,
                        f"watch {project}",
                        response_url=slack.response_url(),
                        channel_id=CHANNELS[index % len(CHANNELS)],
                    )
                    assert reply.status == 200 and "Watching" in reply.text, reply.body
                await slack.wait_for(
                    lambda fake: sum(len(fake.top_level(c)) for c in CHANNELS) >= len(PROJECTS),
                    timeout=SETTLE_TIMEOUT_S,
                )
                polled = sum(simulator.controller.requests(p) for p in PROJECTS)
                before = len(_lines(bot))

                await proxy.cut()
                cut_at = time.monotonic()
                health: list[int] = []
                while time.monotonic() - cut_at < OUTAGE_S:
                    try:
                        health.append((await http.get(bot.health_url)).status_code)
                    except httpx.HTTPError:
                        health.append(0)
                    await asyncio.sleep(0.5)
                polls_meanwhile = sum(simulator.controller.requests(p) for p in PROJECTS) - polled
                posts_before = sum(len(slack.messages(c)) for c in CHANNELS)
                await proxy.restore()

                await bot.wait_healthy(within=SETTLE_TIMEOUT_S)
                await _wait_for(
                    lambda: any("the database is back" in line for line in _lines(bot)),
                    SETTLE_TIMEOUT_S,
                    "the line saying the database is back",
                )
                await slack.wait_for(  # what the polls see now reaches Slack again
                    lambda fake: sum(len(fake.messages(c)) for c in CHANNELS) > posts_before,
                    timeout=SETTLE_TIMEOUT_S,
                )
                await asyncio.sleep(2 * POLL_INTERVAL_S)
                during = _lines(bot)[before:]
                print(
                    f"\ndatabase away for {OUTAGE_S:g} s, {polls_meanwhile} polls meanwhile "
                    f"({len(PROJECTS)} projects every {POLL_INTERVAL_S:g} s), "
                    f"{len(health)} health probes: {len(during)} log lines from the cut to "
                    "the recovery:\n" + "\n".join(during)
                )
                assert len(during) <= AT_MOST_LINES, f"{len(during)} lines"
                assert not [line for line in during if "Traceback" in line]
                down = [line for line in during if "the database is down" in line]
                assert len(down) == 1, down
                assert "DATABASE_URL" in down[0]
                assert len([line for line in during if "the database is back" in line]) == 1
                assert polls_meanwhile >= len(PROJECTS) * OUTAGE_S / POLL_INTERVAL_S / 4
                assert 503 in health and health[-1] == 503
                assert (await http.get(bot.health_url)).status_code == 200
        finally:
            await bot.close()
