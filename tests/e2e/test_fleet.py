"""Three `eon-bot run` replicas on one PostgreSQL database (issue #9): six projects, each watched
from its own channel through one of the replicas; one replica is SIGKILLed while posts are under
way, and another is replaced by a rolling deploy (the new process starts, then the old one gets
SIGTERM and drains). Every channel still gets every notification exactly once, in order, with one
card per run, and no project goes unpolled for longer than the issue allows.

Figures (printed, and recorded in the JUnit XML): missed and repeated notifications, what the
killed replica held, and the worst gap between two polls of a project across the kill and
across the deploy, measured from the simulator's own request counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.server import SimController, SimulatorServer
from bot.store import url
from bot.store.schema import ATTEMPTING, POLL, leases, outbox

from .harness import (
    EI_KEY,
    STOP_LIMIT_S,
    TOKEN,
    BotProcess,
    advance,
    assert_ack,
    assert_notifications,
    bot_environment,
    delivered_all,
    explain,
    free_port,
    identity_of,
    owed_notifications,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PROJECTS = [str(n) for n in range(21, 27)]
TRIALS = 10
POLL_S = 0.1
TAKEOVER_LIMIT_S = max(3 * POLL_S, 10.0)  # the bound
REPOST_GRACE_S = 1.0


def channel(project: str) -> str:
    return f"C0FLEET{project}"


@dataclass
class Figures:
    missed: int = 0
    repeated: int = 0
    killed_held_projects: int = 0  # poll leases the killed replica held
    killed_attempting_rows: int = 0  # rows it had claimed `attempting` when it died
    kill_gap_s: float = 0.0  # worst gap between two polls of a project across the kill
    deploy_gap_s: float = 0.0  # ... across the rolling deploy
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"3 replicas, 6 projects: missed {self.missed}, repeated {self.repeated}; the killed "
            f"replica held {self.killed_held_projects} project(s) and "
            f"{self.killed_attempting_rows} row(s) `attempting`; worst poll gap across the kill "
            f"{self.kill_gap_s:.2f}s, across the rolling deploy {self.deploy_gap_s:.2f}s; "
            f"{self.seconds:.1f}s"
        )


class PollLog:
    """When each project was polled, sampled from the simulator's request counts."""

    def __init__(self, controller: SimController) -> None:
        self._controller = controller
        self.times: dict[str, list[float]] = {project: [] for project in PROJECTS}
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        seen = dict.fromkeys(PROJECTS, 0)
        while True:
            now = time.monotonic()
            for project in PROJECTS:
                count = self._controller.requests(project)
                if count > seen[project]:
                    seen[project] = count
                    self.times[project].append(now)
            await asyncio.sleep(0.005)

    def __enter__(self) -> PollLog:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def gap_across(self, moment: float) -> float:
        """The longest any project went unpolled across `moment`."""
        worst = 0.0
        for times in self.times.values():
            before = [t for t in times if t <= moment]
            after = [t for t in times if t > moment]
            if before and after:
                worst = max(worst, after[0] - before[-1])
        return worst


async def held_by(database_url: str, pid: int | None) -> tuple[int, int]:
    """The poll leases and `attempting` rows of the replica with this process id."""
    engine = url.create_engine(database_url, url.parse(database_url))
    mine = f"% {pid} %"  # replica ids are "eon-bot HOST PID RANDOM"
    try:
        async with engine.connect() as conn:
            projects = await conn.scalar(
                select(func.count())
                .select_from(leases)
                .where(leases.c.kind == POLL, leases.c.owner.like(mine))
            )
            rows = await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.state == ATTEMPTING, outbox.c.claimed_by.like(mine))
            )
            return int(projects or 0), int(rows or 0)
    finally:
        await engine.dispose()


def posts(fake: FakeSlack) -> int:
    return sum(len(fake.messages(channel(project))) for project in PROJECTS)


async def test_three_replicas_one_killed_one_redeployed_deliver_everything_once(
    tmp_path: Path, postgres_url: str, record_property: Callable[[str, object], None]
) -> None:
    started = time.monotonic()
    figures = Figures()
    async with (
        SimulatorServer(api_key=EI_KEY, trials=TRIALS) as simulator,
        FakeSlack(token=TOKEN) as slack,
        httpx.AsyncClient(timeout=10.0) as http,
    ):
        controller = simulator.controller
        for project in PROJECTS:
            controller.set_time(project, 0)
        env = bot_environment(
            slack_api_url=slack.api_url,
            ei_api_url=simulator.url,
            database_url=postgres_url,
            poll_interval=POLL_S,
        )
        a, b, c, c2 = (
            BotProcess(tmp_path, {**env, "PORT": str(free_port())}, name=name)
            for name in ("a", "b", "c", "c2")
        )
        try:
            with explain(a, b, c, c2), PollLog(controller) as polls:
                await asyncio.gather(a.start(), b.start(), c.start())
                for index, project in enumerate(PROJECTS):  # a watch through every replica
                    reply = await (a, b, c)[index % 3].command(
                        http,
                        f"watch {project}",
                        response_url=slack.response_url(),
                        channel_id=channel(project),
                    )
                    assert_ack(reply, f"Watching project {project}")
                await slack.wait_for(
                    lambda fake: all(fake.top_level(channel(p)) for p in PROJECTS), timeout=20.0
                )
                owed = {p: owed_notifications(controller.simulation(p)) for p in PROJECTS}
                moments = {
                    p: [t for t in controller.simulation(p).milestones() if t > 0] for p in PROJECTS
                }
                steps = max(len(times) for times in moments.values())
                kill_step, deploy_step = steps // 3, 2 * steps // 3
                killed_at = deployed_at = 0.0
                for step in range(steps):
                    at = {p: times[min(step, len(times) - 1)] for p, times in moments.items()}
                    if step == kill_step:  # SIGKILL b while posts of this step are under way
                        before = posts(slack)
                        for project, t in at.items():
                            controller.set_time(project, t)
                        await slack.wait_for(lambda fake, n=before: posts(fake) > n, timeout=10.0)
                        held = await held_by(postgres_url, b.pid)
                        stopped = await b.kill()
                        killed_at = time.monotonic()
                        assert stopped.returncode == -9
                        figures.killed_held_projects, figures.killed_attempting_rows = held
                    if step == deploy_step:  # a rolling deploy replaces c
                        await c2.start()
                        deployed_at = time.monotonic()
                        stopped = await c.terminate()
                        assert stopped.returncode == 0, f"c's exit on SIGTERM: {stopped}"
                        assert stopped.seconds < STOP_LIMIT_S
                    await asyncio.gather(
                        *(advance(controller, p, t, within=20.0) for p, t in at.items())
                    )
                for project in PROJECTS:
                    await slack.wait_for(
                        lambda fake, p=project: delivered_all(fake, channel(p), owed[p]),
                        timeout=30.0,
                    )
                await asyncio.sleep(REPOST_GRACE_S)
                for bot in (a, c2):
                    stopped = await bot.terminate()
                    assert stopped.returncode == 0, f"{bot.name} on SIGTERM: {stopped}"

                for project in PROJECTS:
                    seen = [identity_of(m) for m in slack.messages(channel(project))]
                    figures.missed += sum(1 for item in owed[project] if item.identity not in seen)
                    figures.repeated += len(seen) - len(set(seen))
                figures.kill_gap_s = polls.gap_across(killed_at)
                figures.deploy_gap_s = polls.gap_across(deployed_at)
                figures.seconds = time.monotonic() - started
                print(f"\n{figures.line()}")
                for name, value in asdict(figures).items():
                    record_property(name, value)

                for project in PROJECTS:
                    assert_notifications(slack, channel(project), owed[project])
                assert figures.killed_held_projects >= 1, "the kill proved nothing: b held no work"
                assert figures.kill_gap_s <= TAKEOVER_LIMIT_S
                assert figures.deploy_gap_s <= TAKEOVER_LIMIT_S
                for bot in (a, b, c, c2):
                    assert "Traceback" not in bot.log_text(), f"{bot.name} logged a traceback"
        finally:
            for bot in (a, b, c, c2):
                await bot.close()
