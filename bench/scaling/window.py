"""The measuring window of `bench/scale.py` and what is read after it.

The bot's CPU is its utime + stime from /proc/PID/stat (every thread of the process; it starts
no child processes), read at the window's two ends. The window is the same work in every run:
`--duration` s of commands on a fixed schedule (5 `/eon status ID` a second, each second a
channel's `/eon status`, the same sequence from a seeded generator), the same projects running
from the same simulated moments, so the same completions owed; the polls and Slack calls made
in it are counted, so a reader sees the work matched."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.scaling.layout import Layout
from bench.scaling.simulator import Simulator
from bot.core.events import EventKind
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.simulation import Simulation
from bot.store import Store
from bot.store.schema import SENT, outbox
from tests.e2e.harness import BotProcess

TICK_S = 0.2  # one `/eon status ID` each; a channel's `/eon status` every fifth
COMMANDS_SEED = 33
POST = "chat.postMessage"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    args: argparse.Namespace,
    bot: BotProcess,
    http: httpx.AsyncClient,
    slack: FakeSlack,
    layout: Layout,
    projects: list[str],
    sim: Simulator,
) -> dict[str, float]:
    assert bot.pid is not None
    await asyncio.sleep(args.interval * 1.5)  # every project polled once more
    status_id: list[float] = []
    status_channel: list[float] = []
    rss: list[float] = []
    rng = random.Random(COMMANDS_SEED)
    pending: set[asyncio.Task[None]] = set()

    async def ask(text: str, channel: str, into: list[float]) -> None:
        reply = await layout.command(http, bot, slack, text, channel)
        into.append(reply.seconds if reply.status == 200 else float("inf"))

    calls0 = len(slack.calls)
    cpu0, t0, start = cpu_seconds(bot.pid), time.time(), time.monotonic()
    for tick in range(round(args.duration / TICK_S)):
        i = rng.randrange(len(projects))
        pending.add(asyncio.create_task(ask(f"status {projects[i]}", layout.channel(i), status_id)))
        if tick % 5 == 0:
            channel = rng.choice(layout.channels)
            pending.add(asyncio.create_task(ask("status", channel, status_channel)))
            rss.append(rss_mb(bot.pid))
        await asyncio.sleep(max(0.0, start + (tick + 1) * TICK_S - time.monotonic()))
    cpu1, t1 = cpu_seconds(bot.pid), time.time()
    calls = [c for c in slack.calls[calls0:] if t0 <= c.time <= t1]
    await asyncio.wait(pending, timeout=30)
    seen = sim.log()
    in_window = {j: [t for t in seen.get(j, []) if t0 <= t <= t1] for j in projects}
    gaps = [
        b - a
        for times in seen.values()
        for a, b in zip(times, times[1:], strict=False)
        if a >= t0 - 15 and b <= t1
    ]
    figures = {
        "window start": t0,
        "window end": t1,
        "window (s)": t1 - t0,
        "bot CPU (% of a core)": 100 * (cpu1 - cpu0) / (t1 - t0),
        "bot CPU (s in window)": cpu1 - cpu0,
        "RSS (MB, max in window)": max(rss),
        "RSS (MB, median in window)": p(rss, 0.5),
        "polls in window": sum(len(times) for times in in_window.values()),
        "chat.postMessage in window": sum(1 for c in calls if c.method == POST),
        "chat.update in window": sum(1 for c in calls if c.method == "chat.update"),
        "commands sent in window": len(status_id) + len(status_channel),
        "workspaces posted to in window": len({c.team for c in calls if c.method == POST}),
        "poll gap p50 (s)": p(gaps, 0.5),
        "poll gap p99 (s)": p(gaps, 0.99),
        "polls per project in window, fewest": min(len(t) for t in in_window.values()),
        "projects not polled in window": sum(1 for t in in_window.values() if not t),
        "/eon status ID ack p50 (ms)": 1000 * p(status_id, 0.5),
        "/eon status ID ack p99 (ms)": 1000 * p(status_id, 0.99),
        "/eon status ID acks >= 3 s": sum(1 for s in status_id if s >= 3.0),
        "channel /eon status p99 (ms)": 1000 * p(status_channel, 0.99),
    }
    await asyncio.sleep(args.interval + 5)  # what completed near the end gets its post
    return figures


async def out_of_order(database_url: str) -> float:
    """Posts whose Slack ts is earlier than that of a row queued before them in the same
    channel: delivery drains each channel's outbox in order, also when it falls behind."""
    store = await Store.open(database_url)
    try:
        query = (
            select(outbox.c.channel_id, outbox.c.ts)
            .where(outbox.c.state == SENT, outbox.c.kind != EventKind.RUN_CHART.value)
            .order_by(outbox.c.channel_id, outbox.c.id)
        )
        async with store.backend.read() as conn:
            rows = (await conn.execute(query)).all()
    finally:
        await store.close()
    late = 0
    latest: dict[str, float] = {}
    for channel, ts in rows:
        if float(ts) < latest.get(channel, 0.0):
            late += 1
        latest[channel] = max(latest.get(channel, 0.0), float(ts))
    return late


def delivery(
    args: argparse.Namespace,
    slack: FakeSlack,
    layout: Layout,
    running: set[str],
    starts: dict[str, float],
    anchors: dict[str, float],
    figures: dict[str, float],
) -> dict[str, float]:
    """Completions owed in the window (by the simulation's schedule) against FakeSlack's posts."""
    t0, t1 = figures["window start"], figures["window end"]
    owed: dict[tuple[str, str], float] = {}
    for project in running:
        simulation = Simulation(project, trials=args.trials)
        for run in simulation.runs:
            for trial_id in run.trial_ids:
                attempts = simulation.attempts(trial_id)
                if not attempts or attempts[-1].failed:
                    continue
                wall = anchors[project] + (attempts[-1].end - starts[project]) / args.speed
                if t0 <= wall <= t1:
                    owed[(project, trial_id)] = wall
    posted: dict[tuple[str, str], float] = {}
    for channel in layout.channels:
        for message in slack.messages(channel):
            meta = message.metadata or {}
            if meta.get("event_type") == "eon_trial_completed":
                payload = meta.get("event_payload") or {}
                key = (str(payload.get("project_id")), str(payload.get("trial_id")))
                posted.setdefault(key, float(message.ts))
    latencies = [posted[key] - wall for key, wall in owed.items() if key in posted]
    in_window = sum(1 for ts in posted.values() if t0 <= ts <= t1)
    return {
        "completions owed in window": len(owed),
        "completions not posted": sum(1 for key in owed if key not in posted),
        "completion -> post p99 (s)": p(latencies, 0.99),
        "completions posted per s": in_window / (t1 - t0),
    }
