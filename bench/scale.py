"""How many projects one `eon-bot run` serves: the real process, watched through Slack.

Starts the tuner simulator (in a child process, so its work is not timed as the bench's),
FakeSlack (the local Slack-compatible server, in this process) and the real `eon-bot run`
(`tests/e2e/harness.BotProcess`), all on 127.0.0.1. Watches `--n` projects through signed
`/eon watch` commands spread over 20 channels: `--running` of them mid-run (their simulated
clocks run at `--speed`), the others with their run over (the same document on every poll).
Once all are watched the running runs move on, and after one interval more, for `--duration`
seconds, it asks `/eon status ID` (5 a second) and a channel's whole
`/eon status` (1 a second) and measures:

- bot CPU (share of one core, from /proc) and RSS;
- the gap between two polls of a project (from the simulator's request log), p99, and
  whether every project was polled;
- `/eon status ID` and channel `/eon status` acknowledgement times;
- every trial completion owed in the window posted, and completion -> post latency (the
  completion's moment from the simulation's own schedule, the post's from FakeSlack's ts).

Each figure is printed with its target, as min / median over `--repeat` runs, each run on a
fresh database. `--db postgres` uses a throwaway schema in `--pg-url`.

    python bench/scale.py --n 1000 --running 100 --db sqlite --repeat 3 --duration 90
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.e2e.harness`

from bot.core.events import EventKind  # noqa: E402
from bot.sandbox.fakeslack import FakeSlack  # noqa: E402
from bot.sandbox.simulator.runs import Render  # noqa: E402
from bot.sandbox.simulator.server import SimulatorServer  # noqa: E402
from bot.sandbox.simulator.simulation import Simulation  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.schema import SENT, outbox  # noqa: E402
from tests.e2e.harness import EI_KEY, TOKEN, BotProcess, bot_environment  # noqa: E402

CHANNELS = [f"C0SCALE{i:02d}" for i in range(20)]
FIRST_PROJECT = 1001


# --- the simulator, in its own process --------------------------------------------------------


def _simulator(conn: Connection, speed: float, trials: int) -> None:
    """Serves until told to stop; answers "setup" (which projects run) and "log"."""

    async def main() -> None:
        async with SimulatorServer(api_key=EI_KEY, trials=trials, speed=speed) as server:
            controller = server.controller
            seen: dict[str, list[float]] = defaultdict(list)
            respond = controller.respond

            async def logged(
                project_id: str, render: Render | None = None, route: str | None = None
            ) -> Any:
                # A poll: of the project's state, or of its active jobs (the idle tier); not a
                # run's state or the runs list.
                if render is None or route == "jobs":
                    seen[project_id].append(time.time())
                return await respond(project_id, render, route)

            controller.respond = logged  # type: ignore[method-assign]
            conn.send(server.url)
            loop = asyncio.get_running_loop()
            while True:
                order, arg = await loop.run_in_executor(None, conn.recv)
                if order == "setup":  # running runs held at their start until "go"
                    for project, start in arg["running"].items():
                        controller.set_time(project, start)
                    for project in arg["over"]:
                        controller.set_time(project, controller.simulation(project).duration)
                    conn.send(True)
                elif order == "go":
                    anchors = {}
                    for project, start in arg.items():
                        controller.set_time(project, start, frozen=False)
                        anchors[project] = time.time()
                    conn.send(anchors)
                elif order == "log":
                    conn.send(dict(seen))
                else:
                    return

    asyncio.run(main())


# --- one run -----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _pg_schema(base: str) -> tuple[str, str]:
    schema = f"eon_scale_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.close()
    return f"{base}{'&' if '?' in base else '?'}search_path={schema}", schema


async def _drop_schema(base: str, schema: str) -> None:
    admin = await asyncpg.connect(base)
    await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await admin.close()


async def _timed(
    bot: BotProcess, http: httpx.AsyncClient, slack: FakeSlack, text: str, channel: str
) -> float:
    reply = await bot.command(http, text, response_url=slack.response_url(), channel_id=channel)
    if reply.status != 200:
        return float("inf")
    return reply.seconds


async def _watch_all(
    bot: BotProcess, http: httpx.AsyncClient, slack: FakeSlack, projects: list[str]
) -> float:
    started = time.perf_counter()
    queue = list(enumerate(projects))

    async def worker() -> None:
        while queue:
            i, project = queue.pop()
            reply = await bot.command(
                http,
                f"watch {project}",
                response_url=slack.response_url(),
                channel_id=CHANNELS[i % len(CHANNELS)],
            )
            assert reply.status == 200 and "Watching" in reply.text, reply.body

    await asyncio.gather(*(worker() for _ in range(8)))
    return time.perf_counter() - started


async def one_run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    rng = random.Random(len(str(workdir)))
    projects = [str(FIRST_PROJECT + i) for i in range(args.n)]
    running = set(rng.sample(projects, args.running))
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    simulator = ctx.Process(target=_simulator, args=(child, args.speed, args.trials), daemon=True)
    simulator.start()
    schema = None
    try:
        sim_url: str = parent.recv()
        starts = {}
        for project in running:
            duration = Simulation(project, trials=args.trials).duration
            starts[project] = rng.uniform(0, duration * 0.4)
        parent.send(("setup", {"running": starts, "over": sorted(set(projects) - running)}))
        parent.recv()
        if args.db == "postgres":
            database_url, schema = await _pg_schema(args.pg_url)
        else:
            database_url = f"sqlite:///{workdir / 'bot.db'}"
        async with FakeSlack(token=TOKEN) as slack, httpx.AsyncClient(timeout=30) as http:
            env = bot_environment(
                slack_api_url=slack.api_url,
                ei_api_url=sim_url,
                database_url=database_url,
                poll_interval=args.interval,
                extra={"IDLE_FULL_READ": f"{args.idle_full_read:g}"},
            )
            bot = BotProcess(workdir, env)
            await bot.start()
            try:
                figures = {"watch all (s)": await _watch_all(bot, http, slack, projects)}
                parent.send(("go", starts))  # the running runs move on from here
                anchors: dict[str, float] = parent.recv()
                figures |= await _measure(args, bot, http, slack, projects, parent)
                figures.update(_delivery(args, slack, running, starts, anchors, figures))
            finally:
                await bot.terminate()
            figures["posts out of outbox order"] = await _out_of_order(database_url)
    finally:
        parent.send(("stop", None))
        simulator.join(10)
        if simulator.is_alive():
            simulator.kill()
        if schema is not None:
            await _drop_schema(args.pg_url, schema)
    return figures


async def _measure(
    args: argparse.Namespace,
    bot: BotProcess,
    http: httpx.AsyncClient,
    slack: FakeSlack,
    projects: list[str],
    sim: Connection,
) -> dict[str, float]:
    assert bot.pid is not None
    figures: dict[str, float] = {}
    await asyncio.sleep(args.interval * 1.5)  # every project polled once more
    status_id: list[float] = []
    status_channel: list[float] = []
    rss: list[float] = []
    cpu0, t0 = _cpu_seconds(bot.pid), time.time()
    figures["window start"] = t0
    deadline = time.monotonic() + args.duration
    pending: set[asyncio.Task[None]] = set()

    async def ask(text: str, channel: str, into: list[float]) -> None:
        into.append(await _timed(bot, http, slack, text, channel))

    tick = 0
    while time.monotonic() < deadline:
        i = random.randrange(len(projects))
        channel = CHANNELS[i % len(CHANNELS)]
        task = asyncio.create_task(ask(f"status {projects[i]}", channel, status_id))
        pending.add(task)
        if tick % 5 == 0:
            whole = asyncio.create_task(ask("status", random.choice(CHANNELS), status_channel))
            pending.add(whole)
            rss.append(_rss_mb(bot.pid))
        tick += 1
        await asyncio.sleep(0.2)
    cpu1, t1 = _cpu_seconds(bot.pid), time.time()
    await asyncio.wait(pending, timeout=30)
    sim.send(("log", None))
    seen: dict[str, list[float]] = sim.recv()
    gaps = [
        b - a
        for times in seen.values()
        for a, b in zip(times, times[1:], strict=False)
        if a >= t0 - 15 and b <= t1
    ]
    polled = sum(1 for p in projects if any(t0 <= t <= t1 for t in seen.get(p, [])))
    figures.update(
        {
            "window end": t1,
            "bot CPU (% of a core)": 100 * (cpu1 - cpu0) / (t1 - t0),
            "RSS (MB, max in window)": max(rss),
            "poll gap p50 (s)": _p(gaps, 0.5),
            "poll gap p99 (s)": _p(gaps, 0.99),
            "polls per project in window, fewest": min(
                sum(1 for t in seen.get(p, []) if t0 <= t <= t1) for p in projects
            ),
            "projects not polled in window": len(projects) - polled,
            "/eon status ID ack p50 (ms)": 1000 * _p(status_id, 0.5),
            "/eon status ID ack p99 (ms)": 1000 * _p(status_id, 0.99),
            "/eon status ID acks >= 3 s": sum(1 for s in status_id if s >= 3.0),
            "channel /eon status p99 (ms)": 1000 * _p(status_channel, 0.99),
        }
    )
    await asyncio.sleep(args.interval + 5)  # what completed near the end gets its post
    return figures


async def _out_of_order(database_url: str) -> float:
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


def _delivery(
    args: argparse.Namespace,
    slack: FakeSlack,
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
    for channel in CHANNELS:
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
        "completion -> post p99 (s)": _p(latencies, 0.99),
        "completions posted per s": in_window / (t1 - t0),
    }


TARGETS = {
    "bot CPU (% of a core)": "< 50",
    "RSS (MB, max in window)": "< 250",
    "poll gap p99 (s)": "<= interval + 1",
    "projects not polled in window": "0",
    "/eon status ID ack p99 (ms)": "<= 100",
    "/eon status ID acks >= 3 s": "0",
    "channel /eon status p99 (ms)": "<= 300",
    "completions not posted": "0",
    "completion -> post p99 (s)": "<= interval + 2.5",
    "posts out of outbox order": "0",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100, help="projects watched")
    parser.add_argument("--running", type=int, default=None, help="of them mid-run (N/10)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=90.0, help="measuring window, s")
    parser.add_argument("--interval", type=float, default=10.0, help="POLL_INTERVAL, s")
    parser.add_argument("--speed", type=float, default=20.0, help="simulated s per second")
    parser.add_argument("--trials", type=int, default=24, help="trials per simulated run")
    parser.add_argument(
        "--idle-full-read", type=float, default=1800.0, help="IDLE_FULL_READ, s (0: no idle tier)"
    )
    args = parser.parse_args()
    args.running = args.n // 10 if args.running is None else min(args.running, args.n)
    results: list[dict[str, float]] = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="eon-scale-") as folder:
            results.append(asyncio.run(one_run(args, Path(folder))))
        print(f"  run {index + 1} of {args.repeat} done", file=sys.stderr)
    print(
        f"\n{args.n} projects ({args.running} running, {args.trials} trials each), {args.db}, "
        f"POLL_INTERVAL={args.interval:g}, IDLE_FULL_READ={args.idle_full_read:g}, "
        f"{args.duration:g} s window, {args.repeat} run(s)"
    )
    print(f"  {'figure':34} {'min':>9} {'median':>9}  target")
    for name in results[0]:
        if name.startswith("window"):
            continue
        values = [r[name] for r in results]
        target = TARGETS.get(name, "").replace("interval", f"{args.interval:g}")
        print(f"  {name:34} {min(values):9.1f} {statistics.median(values):9.1f}  {target}")


if __name__ == "__main__":
    main()
