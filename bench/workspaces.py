"""What spreading projects over workspaces costs the store and delivery (issue 33), side by side.

Not yet `bench/scale.py --workspaces 50`: that needs the real process in multi-workspace mode
(the OAuth side). This measures the part that every row belonging to a workspace changes, in
one process, on a SQLite file: `--projects` projects, each watched by one channel, the channels
spread over 1 workspace, then over `--workspaces` (the same 100
channels either way, so only their workspaces differ); each project polled `--polls` times (a poll
of one trial completion, fanned out to its subscription), and the outbox drained by the real
`Delivery` into FakeSlack, each workspace with a client of its own (`BotTokens`).

It prints, for each layout, the CPU time of the polls and of the drain (`time.process_time`),
the peak of Python's allocations during them (`tracemalloc`), and the ratio of the spread
layout to the single one (the issue's target: within 10 %).

    python bench/workspaces.py [--projects 1000] [--workspaces 50] [--polls 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.factories`

from bot.core.events import Event, EventKind  # noqa: E402
from bot.core.outage import Outage  # noqa: E402
from bot.sandbox.fakeslack import FakeSlack  # noqa: E402
from bot.slack.delivery import Delivery  # noqa: E402
from bot.store import Store  # noqa: E402

CHANNELS = 100  # channels the projects are watched in (as many in both layouts)


class Clients:
    """One client per workspace (multi mode's shape), all to the one FakeSlack."""

    def __init__(self, url: str, teams: list[str]) -> None:
        self._clients = {t: AsyncWebClient(token="xoxb-test", base_url=url) for t in teams}

    async def client(self, team_id: str) -> AsyncWebClient | None:
        return self._clients.get(team_id)

    def teams(self) -> frozenset[str]:
        return frozenset(self._clients)

    def team_of(self, context: Any) -> str:
        return ""

    def refused(self, team_id: str) -> bool:
        return False


def _event(project: str, poll: int) -> Event:
    return Event(kind=EventKind.API_RECOVERED, key=f"{project}:bench:{poll}", project_id=project)


async def layout(projects: int, workspaces: int, polls: int) -> dict[str, float]:
    """CPU seconds and peak MB of the polls and of the drain, for one layout."""
    teams = [f"T{i:04d}" for i in range(workspaces)]
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite:///{folder}/bench.db")
        ids = [str(100_000 + n) for n in range(projects)]
        for n, project in enumerate(ids):  # the same channels either way, each in one workspace
            channel = n % CHANNELS
            await store.subscribe(
                teams[channel % workspaces], f"C{channel:03d}", project, added_by="U"
            )
        gc.collect()
        tracemalloc.start()
        cpu = time.process_time()
        for poll in range(polls):
            for project in ids:
                event = _event(project, poll)
                await store.save_poll(project, snapshot=None, events=[event], outage=Outage())
        poll_cpu = time.process_time() - cpu
        poll_peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.reset_peak()
        async with FakeSlack() as fake:
            delivery = Delivery(store=store, tokens=Clients(fake.api_url, teams), idle_s=0.05)
            runner = asyncio.create_task(delivery.run())
            cpu = time.process_time()
            delivery.wake()
            while not await delivery.idle():  # noqa: ASYNC110 (a bench: polls the store)
                await asyncio.sleep(0.05)
            drain_cpu = time.process_time() - cpu
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        drain_peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        await store.close()
    return {
        "poll_cpu": poll_cpu,
        "poll_mb": poll_peak,
        "drain_cpu": drain_cpu,
        "drain_mb": drain_peak,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--polls", type=int, default=3)
    args = parser.parse_args()
    one = await layout(args.projects, 1, args.polls)
    many = await layout(args.projects, args.workspaces, args.polls)
    print(f"{args.projects} projects, {args.polls} poll(s) each: 1 workspace vs {args.workspaces}")
    for key, what in (
        ("poll_cpu", "polls, CPU s"),
        ("poll_mb", "polls, peak MB"),
        ("drain_cpu", "drain, CPU s"),
        ("drain_mb", "drain, peak MB"),
    ):
        ratio = many[key] / one[key] if one[key] else float("nan")
        print(f"  {what:16} {one[key]:8.2f} {many[key]:8.2f}   x{ratio:.2f}  (target <= 1.10)")


if __name__ == "__main__":
    asyncio.run(main())
