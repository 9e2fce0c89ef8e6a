"""How many projects one `eon-bot run` serves: the real process, watched through Slack.

Starts the tuner simulator (in a child process, so its work is not timed as the bench's),
FakeSlack (the local Slack-compatible server, in this process) and the real `eon-bot run`
(`tests/e2e/harness.BotProcess`), all on 127.0.0.1. Watches `--n` projects through signed
`/eon watch` commands spread over 20 channels: `--running` of them mid-run (their simulated
clocks run at `--speed`), the others with their run over (the same document on every poll).
Once all are watched the running runs move on, and after one interval more, for `--duration`
seconds, it asks `/eon status ID` (5 a second) and a channel's whole
`/eon status` (1 a second) and measures:

- bot CPU (share of one core, and seconds, from /proc) and RSS;
- the work done in the window: polls (from the simulator's request log), Slack posts and
  edits (FakeSlack's calls) and commands sent;
- the gap between two polls of a project, p99, and whether every project was polled;
- `/eon status ID` and channel `/eon status` acknowledgement times;
- every trial completion owed in the window posted, and completion -> post latency (the
  completion's moment from the simulation's own schedule, the post's from FakeSlack's ts).

`--workspaces N` runs the bot in many-workspace mode ("Add to Slack") with N workspaces
installed through OAuth, the channels (20, or N if more) and so the projects theirs
round-robin (`bench/scaling/layout.py`). `--compare-workspaces 1,50` runs both layouts
alternately (1, 50, 1, 50, ... for `--repeat` each, every other setting the same) and prints
them side by side with the ratios of bot CPU seconds and RSS (issue 33: within 10 %).

Each figure is printed with its target, as min / median over `--repeat` runs, each run on a
fresh database. `--db postgres` uses a throwaway schema in `--pg-url`.

    python bench/scale.py --n 1000 --running 100 --db sqlite --repeat 3 --duration 90
    python bench/scale.py --n 1000 --running 100 --compare-workspaces 1,50 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.e2e.harness`, `bench`

from bench.scaling import report  # noqa: E402
from bench.scaling.layout import Layout  # noqa: E402
from bench.scaling.simulator import Simulator  # noqa: E402
from bench.scaling.window import delivery, measure, out_of_order  # noqa: E402
from bot.sandbox.fakeslack import FakeSlack  # noqa: E402
from bot.sandbox.simulator.simulation import Simulation  # noqa: E402
from tests.e2e.harness import TOKEN, BotProcess, bot_environment  # noqa: E402

CHANNELS = 20  # at least; as many as the workspaces when there are more
FIRST_PROJECT = 1001
RUNS_SEED = 23  # which projects run, and from where: the same in every run


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


async def _watch_all(
    bot: BotProcess,
    http: httpx.AsyncClient,
    slack: FakeSlack,
    layout: Layout,
    projects: list[str],
) -> float:
    started = time.perf_counter()
    queue = list(enumerate(projects))

    async def worker() -> None:
        while queue:
            i, project = queue.pop()
            reply = await layout.command(http, bot, slack, f"watch {project}", layout.channel(i))
            assert reply.status == 200 and "Watching" in reply.text, reply.body

    await asyncio.gather(*(worker() for _ in range(8)))
    return time.perf_counter() - started


async def one_run(args: argparse.Namespace, layout: Layout, workdir: Path) -> dict[str, float]:
    rng = random.Random(RUNS_SEED)
    projects = [str(FIRST_PROJECT + i) for i in range(args.n)]
    running = set(rng.sample(projects, args.running))
    simulator = Simulator(args.speed, args.trials)
    schema = None
    try:
        sim_url = simulator.start()
        starts = {}
        for project in sorted(running):
            duration = Simulation(project, trials=args.trials).duration
            starts[project] = rng.uniform(0, duration * 0.4)
        simulator.setup(starts, sorted(set(projects) - running))
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
            bot = BotProcess(workdir, layout.environment(env))
            await bot.start()
            try:
                await layout.install(slack, bot)
                watched = await _watch_all(bot, http, slack, layout, projects)
                figures = {"watch all (s)": watched}
                anchors = simulator.go(starts)  # the running runs move on from here
                figures |= await measure(args, bot, http, slack, layout, projects, simulator)
                figures |= delivery(args, slack, layout, running, starts, anchors, figures)
            finally:
                await bot.terminate()
            figures["posts out of outbox order"] = await out_of_order(database_url)
    finally:
        simulator.stop()
        if schema is not None:
            await _drop_schema(args.pg_url, schema)
    return figures


def _run(args: argparse.Namespace, layout: Layout) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="eon-scale-") as folder:
        return asyncio.run(one_run(args, layout, Path(folder)))


def _workspaces(text: str) -> list[int]:
    sides = [int(part) for part in text.split(",")]
    if len(sides) != 2 or min(sides) < 1:
        raise argparse.ArgumentTypeError("two workspace counts, e.g. 1,50")
    return sides


def parse(argv: list[str] | None = None) -> argparse.Namespace:
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
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--workspaces",
        type=int,
        default=None,
        help="many-workspace mode with this many installed (default: single mode, a bot token)",
    )
    modes.add_argument(
        "--compare-workspaces",
        type=_workspaces,
        default=None,
        metavar="A,B",
        help="many-workspace mode, A then B workspaces alternately, side by side",
    )
    args = parser.parse_args(argv)
    args.running = args.n // 10 if args.running is None else min(args.running, args.n)
    if args.workspaces is not None and args.workspaces < 1:
        parser.error("--workspaces must be 1 or more")
    return args


def main() -> None:
    args = parse()
    if args.compare_workspaces is None:
        layout = Layout.of(max(CHANNELS, args.workspaces or 0), args.workspaces)
        results = []
        for index in range(args.repeat):
            results.append(_run(args, layout))
            print(f"  run {index + 1} of {args.repeat} done", file=sys.stderr)
        print(report.header(args, layout.describe()))
        report.table(args, results)
        return
    sides = args.compare_workspaces
    channels = max(CHANNELS, *sides)  # the same channels on both sides
    by_side: dict[int, list[dict[str, float]]] = {side: [] for side in sides}
    for index in range(args.repeat):
        for side in sides:
            by_side[side].append(_run(args, Layout.of(channels, side)))
            print(f"  {side} workspace(s): run {index + 1} of {args.repeat} done", file=sys.stderr)
    where = f"many-workspace mode, {channels} channels, {sides[0]} vs {sides[1]} workspaces"
    print(report.header(args, where))
    report.side_by_side(args, sides, by_side)


if __name__ == "__main__":
    main()
