"""The idle tier under the real `eon-bot run` (issue 29): a watched project where nothing runs
is polled by its active jobs list, and its state read only when that list changes, or every
`IDLE_FULL_READ`, or at every poll when Edge Impulse refuses the list.

The simulator runs in the test's loop, so the test sees every request the bot makes, in order
(`Requests`), and moves the project's clock itself: run 0 over, then the extended search (a
new coordinator job) starting, or an unrelated job, or the state replaced without any job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.simulator.server import SimController
from tests.e2e.harness import CHANNEL, PROJECT_ID, Stack, e2e_stack, explain

pytestmark = pytest.mark.e2e

INTERVAL_S = 1.0
TRIALS = 8
HANG_S = 60.0  # a hang guard: the conditions waited on come within a few intervals
REFUSED_LINE = "Edge Impulse refuses its active jobs list (HTTP 404)"


@dataclass
class Requests:
    """Every request of the watched project reaching the simulator: (route, monotonic time)."""

    seen: list[tuple[str, float]] = field(default_factory=list)
    came: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self, controller: SimController) -> None:
        respond = controller.respond

        async def logged(project_id: str, render: Any = None, route: str | None = None) -> Any:
            if project_id == PROJECT_ID:
                name = route or ("state" if render is None else "runs")
                self.seen.append((name, time.monotonic()))
                self.came.set()
            return await respond(project_id, render, route)

        controller.respond = logged  # type: ignore[method-assign]

    def count(self, route: str) -> int:
        return sum(1 for name, _ in self.seen if name == route)

    def since(self, index: int) -> list[str]:
        return [name for name, _ in self.seen[index:]]

    async def wait(self, route: str, count: int) -> None:
        """Until `count` more requests of `route` came (under the hang guard)."""
        target = self.count(route) + count
        async with asyncio.timeout(HANG_S):
            while self.count(route) < target:
                self.came.clear()
                await self.came.wait()


@asynccontextmanager
async def idle_stack(
    tmp_path: Path, *, full_read_s: float = 1800.0, refused: bool = False
) -> AsyncIterator[tuple[Stack, Requests]]:
    """The bot watching `PROJECT_ID` after its first run ended (its card posted), the extended
    search not started yet; every request of the project logged from the start."""
    async with e2e_stack(
        tmp_path,
        trials=TRIALS,
        poll_interval=INTERVAL_S,
        extra_env={"IDLE_FULL_READ": f"{full_read_s:g}"},
    ) as stack:
        requests = Requests()
        requests.install(stack.controller)
        if refused:
            stack.controller.side_jobs.refuse(PROJECT_ID)
        stack.controller.set_time(PROJECT_ID, stack.simulation.runs[0].end + 5)
        await stack.bot.start()
        with explain(stack.bot):
            await stack.watch()
            yield stack, requests


def cards(stack: Stack) -> list[Any]:
    return [m for m in stack.slack.top_level(CHANNEL) if m.event_type == "eon_run_started"]


async def test_a_run_that_starts_on_an_idle_project_gets_its_card_within_one_interval(
    tmp_path: Path,
) -> None:
    async with idle_stack(tmp_path) as (stack, requests):
        await requests.wait("jobs", 3)  # idle: the jobs list each poll
        states = requests.count("state")
        await requests.wait("jobs", 3)
        assert requests.count("state") == states, "no state read while nothing changes"
        extension = stack.simulation.runs[1]
        mark = len(requests.seen)
        started = time.monotonic()
        stack.controller.set_time(PROJECT_ID, extension.first_start + 1)
        await stack.slack.wait_for(lambda _: len(cards(stack)) == 2, timeout=HANG_S)
        took = time.monotonic() - started
        first_poll = requests.since(mark)[:2]
        assert first_poll == ["jobs", "state"], "the first poll after the start reads the state"
        print(f"\nthe extended search's card {took:.2f} s after it started (POLL_INTERVAL 1 s)")
        payload = cards(stack)[-1].metadata["event_payload"]
        assert payload["tuner_job_id"] == str(extension.tuner_job_id)
        jobs = requests.count("jobs")
        await requests.wait("state", 3)
        assert requests.count("jobs") == jobs, "while it runs: the state alone, as before"


async def test_an_unrelated_job_costs_one_state_read_while_it_stands(tmp_path: Path) -> None:
    async with idle_stack(tmp_path) as (stack, requests):
        await requests.wait("jobs", 2)
        states = requests.count("state")
        job = stack.controller.side_jobs.start(PROJECT_ID)
        await requests.wait("state", 1)
        await requests.wait("jobs", 5)
        assert requests.count("state") == states + 1, "read once, then remembered"
        assert len(cards(stack)) == 1, "no run: no card"
        stack.controller.side_jobs.finish(PROJECT_ID, job)
        await requests.wait("state", 1)
        await requests.wait("jobs", 3)
        assert requests.count("state") == states + 2


async def test_a_refused_jobs_list_falls_back_to_whole_reads_said_once(tmp_path: Path) -> None:
    async with idle_stack(tmp_path, refused=True) as (stack, requests):
        await requests.wait("state", 5)
        assert requests.count("jobs") == 1, "asked once, then the state at every poll"
        assert stack.bot.log_text().count(REFUSED_LINE) == 1, stack.bot.logs()
        extension = stack.simulation.runs[1]
        stack.controller.set_time(PROJECT_ID, extension.first_start + 1)
        await stack.slack.wait_for(lambda _: len(cards(stack)) == 2, timeout=HANG_S)


async def test_a_state_replaced_without_a_job_is_seen_by_the_periodic_whole_read(
    tmp_path: Path,
) -> None:
    """The state reset to other runs (another seed) that no job announces: the jobs list stays
    empty, so only the whole read every `IDLE_FULL_READ` (here 4 s) finds their card."""
    async with idle_stack(tmp_path, full_read_s=4.0) as (stack, requests):
        await requests.wait("jobs", 1)
        states = requests.count("state")
        replaced = stack.controller.configure(PROJECT_ID, seed=2, trials=TRIALS)
        stack.controller.set_time(PROJECT_ID, replaced.duration)
        changed_at = time.monotonic()
        await stack.slack.wait_for(lambda _: len(cards(stack)) == 2, timeout=HANG_S)
        took = time.monotonic() - changed_at
        assert requests.count("state") > states
        print(f"\nthe replaced state's card {took:.2f} s after the change (IDLE_FULL_READ 4 s)")
        payload = cards(stack)[-1].metadata["event_payload"]
        assert payload["tuner_job_id"] == str(replaced.runs[-1].tuner_job_id)
