"""One slow dependency does not slow everything (`bot.service.lanes`): with 40 of 50 projects
answering in 8 s, the 10 healthy ones are still polled at their interval, and the log's
"falling behind" names the slow answers and the projects, not a lack of replicas.

In-process: the real poller and tuner client over real HTTP (aiohttp's connections, as
`eon-bot run` makes them) to the simulator, a SQLite store, APScheduler. The figures are
printed (run with `-s`)."""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import time
from collections import defaultdict
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr

from bot.clock import utcnow
from bot.sandbox.simulator.server import Fault, SimulatorServer
from bot.service.poller import Poller
from bot.store import Store
from bot.tuner.client import TunerClient, default_transport

KEY = "ei_isolation_key"
INTERVAL_S = 2.0
SLOW_S = 8.0
PROJECTS = [str(n) for n in range(1, 51)]
SLOW = PROJECTS[:40]
HEALTHY = PROJECTS[40:]
WARM_UP_S = SLOW_S + 2 * INTERVAL_S  # the first round finds out who is slow (bot.service.lanes)
MEASURE_S = 20.0
KEEPS_ITS_DELAY_S = INTERVAL_S + 1.0  # a healthy project's longest gap between two polls


@pytest.mark.slow
async def test_healthy_projects_keep_their_interval_while_most_answer_in_8_s(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.service.poller")
    seen: dict[str, list[float]] = defaultdict(list)
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    transport = default_transport()
    scheduler = AsyncIOScheduler(timezone=UTC)
    async with SimulatorServer(api_key=KEY, trials=24) as simulator:
        controller = simulator.controller
        respond = controller.respond

        async def logged(project_id: str, render: Any = None) -> Any:
            if render is None:  # a poll of the project's state (not a run's or the runs list)
                seen[project_id].append(time.monotonic())
            return await respond(project_id, render)

        controller.respond = logged  # type: ignore[method-assign]
        for project in SLOW:  # slow at every poll of the test, and after
            controller.inject(project, *[Fault.slow(SLOW_S)] * 20)
        tuner = TunerClient(transport, base_url=simulator.url, api_key_for=lambda _: SecretStr(KEY))
        poller = Poller(
            store=store,
            tuner=tuner,
            scheduler=scheduler,
            interval=INTERVAL_S,
            outage_notice_after=300,
            now=utcnow,
            on_events=lambda _project: None,
        )
        scheduler.start()
        started = time.monotonic()
        try:
            for index, project in enumerate(PROJECTS):  # spread over one interval, as a start
                poller.watch(project, delay=INTERVAL_S * index / len(PROJECTS))
            await asyncio.sleep(WARM_UP_S + MEASURE_S)  # the measured window itself
        finally:
            await poller.stop(grace_s=0.1)
            await transport.aclose()
            await store.close()
    window = started + WARM_UP_S
    gaps = {
        project: [b - a for a, b in zip(times, times[1:], strict=False) if b >= window]
        for project, times in ((p, seen[p]) for p in HEALTHY)
    }
    worst = {project: max(found, default=float("inf")) for project, found in gaps.items()}
    everything = [gap for found in gaps.values() for gap in found]
    print(
        f"\nhealthy projects' poll gaps over {MEASURE_S:g} s while 40 of 50 answer in "
        f"{SLOW_S:g} s: median {statistics.median(everything):.2f} s, max "
        f"{max(everything):.2f} s (POLL_INTERVAL {INTERVAL_S:g} s); slow projects polled "
        f"{sum(len(seen[p]) for p in SLOW)} times in all"
    )
    assert all(value <= KEEPS_ITS_DELAY_S for value in worst.values()), worst
    assert all(len(found) >= MEASURE_S / INTERVAL_S - 2 for found in gaps.values()), gaps
    behind = [r.getMessage() for r in caplog.records if "falling behind" in r.getMessage()]
    assert behind, "the slow projects' lane never said it fell behind"
    assert all("add a replica" not in line for line in behind), behind
    assert all("Edge Impulse answers" in line and "slowly" in line for line in behind), behind
    lane = [line for line in behind if line.startswith("polls of slow projects")]
    assert lane, behind
    # The slow projects known when the lane first fell behind: all 40 on an idle machine; on a
    # busy one the line can come before the last of the first round's 8-s answers. Either way
    # it names slow projects only, and counts what it names.
    said = re.search(
        r"answers (\d+) project\(s\) slowly .*?\((\d+(?:, \d+)*)(?: and (\d+) more)?\)", lane[0]
    )
    assert said, lane[0]
    count, named, more = int(said[1]), said[2].split(", "), int(said[3] or 0)
    assert 1 <= count <= len(SLOW) and set(named) <= set(SLOW), lane[0]
    assert len(named) == min(count, 10) and more == count - len(named), lane[0]
