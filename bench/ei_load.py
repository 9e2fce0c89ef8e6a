"""What watching costs Edge Impulse: bytes and requests a day for 100 watched projects, before
and after the idle tier (issue 29), measured side by side in one run.

Two real `eon-bot run` processes (`tests/e2e/harness.BotProcess`) run at once, each with its
own tuner simulator (a child process, answering gzip as Edge Impulse does), FakeSlack and
SQLite database: BEFORE with `IDLE_FULL_READ=0` (every poll reads the whole state, as every
release before the idle tier did), AFTER with the defaults. Each watches the same 100 projects
of `--trials`-trial runs: 90 whose runs are over, 5 between two runs that start their next
run half-way through the window (the new run's card is timed), 5 mid-run.

The clock is compressed `--compress` times: `POLL_INTERVAL` and `IDLE_FULL_READ` are the
defaults divided by it, the simulated runs go that much faster, and the window is
`--full-reads` periods of `IDLE_FULL_READ`. Every figure per day is what was measured in the
window scaled to a day at the defaults (window × compress real-time seconds): requests and
bytes depend on how many polls there are, not on how fast they come, so that is exact up to
where the window's edges fall. Bytes come from each bot's own `/metrics` (on the wire and
decoded, by route); the idle projects' share from the simulators' request logs.

    python bench/ei_load.py                 # about 7 minutes
    python bench/ei_load.py --compress 20 --full-reads 1
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.e2e.harness`

from bot.sandbox.fakeslack import FakeSlack  # noqa: E402
from bot.sandbox.simulator.server import SimulatorServer  # noqa: E402
from bot.sandbox.simulator.simulation import Simulation  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.e2e.harness import EI_KEY, TOKEN, BotProcess, bot_environment  # noqa: E402

DAY_S = 86_400.0
FIRST = 2001
CHANNELS = [f"C0LOAD{i:02d}" for i in range(10)]
DEFAULT_INTERVAL = Settings.model_fields["poll_interval"].default
DEFAULT_FULL_READ = Settings.model_fields["idle_full_read"].default


def _simulator(conn: Connection, speed: float, trials: int) -> None:
    """A simulator in this child process: "setup" (the projects' moments), "start" (runs that
    begin now), "log" (requests and decoded bytes per project and route), "stop"."""

    async def main() -> None:
        async with SimulatorServer(api_key=EI_KEY, trials=trials, speed=speed, gzip=True) as sim:
            controller = sim.controller
            log: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
            respond = controller.respond

            async def logged(project_id: str, render: Any = None, route: str | None = None) -> Any:
                response = await respond(project_id, render, route)
                entry = log[project_id][route or ("state" if render is None else "runs")]
                entry[0] += 1
                entry[1] += len(getattr(response, "body", b"") or b"")
                return response

            controller.respond = logged  # type: ignore[method-assign]
            conn.send(sim.url)
            loop = asyncio.get_running_loop()
            while True:
                order, arg = await loop.run_in_executor(None, conn.recv)
                if order == "setup":
                    for project, (t, frozen) in arg.items():
                        controller.set_time(project, t, frozen=frozen)
                    conn.send(True)
                elif order == "start":
                    for project, t in arg.items():
                        controller.set_time(project, t, frozen=False)
                    conn.send(time.time())
                elif order == "log":
                    conn.send(
                        {p: {r: tuple(v) for r, v in routes.items()} for p, routes in log.items()}
                    )
                else:
                    return

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


async def _metrics(http: httpx.AsyncClient, bot: BotProcess) -> dict[tuple[str, str, str], float]:
    """The bot's Edge Impulse counters: (metric, route, status) -> value."""
    text = (await http.get(f"{bot.base_url}/metrics")).text
    found: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("eonbot_edge_impulse_"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.name, sample.labels.get("route", ""), sample.labels.get("status", ""))
                found[key] = sample.value
    return found


async def _watch_all(
    bot: BotProcess, http: httpx.AsyncClient, slack: FakeSlack, projects: list[str]
) -> None:
    queue = list(enumerate(projects))

    async def worker() -> None:
        while queue:
            i, project = queue.pop()
            reply = await bot.command(
                http, f"watch {project}", response_url=slack.response_url(),
                channel_id=CHANNELS[i % len(CHANNELS)],
            )  # fmt: skip
            assert reply.status == 200 and "Watching" in reply.text, reply.body

    await asyncio.gather(*(worker() for _ in range(6)))


class Side:
    """One bot with its simulator and FakeSlack."""

    def __init__(self, name: str, full_read: float) -> None:
        self.name, self.full_read = name, full_read
        self.bot: BotProcess
        self.slack: FakeSlack
        self.sim: Connection
        self.process: Any


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(args: argparse.Namespace, folder: Path) -> None:
    interval = DEFAULT_INTERVAL / args.compress
    full_read = DEFAULT_FULL_READ / args.compress
    window = args.full_reads * full_read
    projects = [str(FIRST + i) for i in range(100)]
    running, starters, over = projects[:5], projects[5:10], projects[10:]
    sims = {p: Simulation(p, trials=args.trials) for p in projects}
    moments: dict[str, tuple[float, bool]] = {}
    for p in running:
        moments[p] = (float(sims[p].runs[0].first_start + 60), True)  # held until "go"
    for p in starters:
        moments[p] = (float(sims[p].runs[0].end + 5), True)
    for p in over:
        moments[p] = (sims[p].duration, True)
    sides = [Side("before", 0.0), Side("after", full_read)]
    ctx = mp.get_context("spawn")
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        for side in sides:
            parent, child = ctx.Pipe()
            side.process = ctx.Process(
                target=_simulator, args=(child, args.compress, args.trials), daemon=True
            )
            side.process.start()
            side.sim = parent
            stack.callback(side.process.kill)
            url = parent.recv()
            parent.send(("setup", moments))
            parent.recv()
            side.slack = await stack.enter_async_context(FakeSlack(token=TOKEN))
            env = bot_environment(
                slack_api_url=side.slack.api_url, ei_api_url=url,
                database_url=f"sqlite:///{folder / side.name}.db", poll_interval=interval,
                extra={"IDLE_FULL_READ": f"{side.full_read:g}"},
            )  # fmt: skip
            (folder / side.name).mkdir()
            side.bot = BotProcess(folder / side.name, env, name=side.name)
            await side.bot.start()
            stack.push_async_callback(side.bot.terminate)
        await asyncio.gather(*(_watch_all(s.bot, http, s.slack, projects) for s in sides))
        go = {p: moments[p][0] for p in running}
        anchors = {}
        for side in sides:
            side.sim.send(("start", go))
            anchors[side.name] = side.sim.recv()
        await asyncio.sleep(2 * interval + 1)  # every project polled since its watch
        before_m = {s.name: await _metrics(http, s.bot) for s in sides}
        before_log = {}
        for side in sides:
            side.sim.send(("log", None))
            before_log[side.name] = side.sim.recv()
        cpu0 = {s.name: _cpu_seconds(s.bot.pid or 0) for s in sides}
        t0 = time.time()
        print(
            f"window: {window:g} s (= {window * args.compress / 60:g} min at the defaults)",
            file=sys.stderr,
        )
        await asyncio.sleep(window / 2)
        started: dict[str, float] = {}
        for side in sides:
            side.sim.send(("start", {p: float(sims[p].runs[1].start) for p in starters}))
            started[side.name] = side.sim.recv()
        await asyncio.sleep(window / 2)
        t1 = time.time()
        after_m = {s.name: await _metrics(http, s.bot) for s in sides}
        cpu1 = {s.name: _cpu_seconds(s.bot.pid or 0) for s in sides}
        after_log = {}
        for side in sides:
            side.sim.send(("log", None))
            after_log[side.name] = side.sim.recv()
        await asyncio.sleep(interval + 5)  # posts of what happened near the end
        scale = DAY_S / (window * args.compress)
        rows: dict[str, dict[str, float]] = {}
        for side in sides:
            rows[side.name] = _figures(
                side, before_m, after_m, before_log, after_log, over, scale, t1 - t0,
                cpu1[side.name] - cpu0[side.name],
            )  # fmt: skip
            rows[side.name] |= _latencies(
                side, sims, running, starters, go, anchors[side.name], started[side.name],
                args.compress, t0, t1,
            )  # fmt: skip
        _print(args, interval, full_read, window, rows)


def _figures(
    side: Side, m0: dict[str, Any], m1: dict[str, Any], l0: dict[str, Any], l1: dict[str, Any],
    over: list[str], scale: float, seconds: float, cpu: float,
) -> dict[str, float]:  # fmt: skip
    def delta(metric: str, status: str | None = None) -> float:
        a, b = m0[side.name], m1[side.name]
        return sum(
            v - a.get(k, 0.0) for k, v in b.items()
            if k[0] == metric and (status is None or k[2] == status)
        )  # fmt: skip

    wire = delta("eonbot_edge_impulse_wire_bytes_total")
    decoded = delta("eonbot_edge_impulse_decoded_bytes_total")
    requests = delta("eonbot_edge_impulse_requests_total")
    by_route: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for metric in (
        "eonbot_edge_impulse_wire_bytes_total",
        "eonbot_edge_impulse_decoded_bytes_total",
    ):
        for k, v in m1[side.name].items():
            if k[0] == metric:
                by_route[k[1]][0 if "wire" in metric else 1] += v - m0[side.name].get(k, 0.0)
    ratio = {route: (w / d if d else 1.0) for route, (w, d) in by_route.items()}
    idle_decoded = idle_wire = idle_requests = 0.0
    for project in over:
        for route, (count, size) in l1[side.name].get(project, {}).items():
            count0, size0 = l0[side.name].get(project, {}).get(route, (0, 0))
            name = {"state": "optimize/state", "jobs": "jobs"}.get(route, route)
            idle_requests += count - count0
            idle_decoded += size - size0
            idle_wire += (size - size0) * ratio.get(name, 1.0)
    mb = 1024 * 1024
    return {
        "requests / day (all 100)": requests * scale,
        "MB / day on the wire (all 100)": wire * scale / mb,
        "MB / day decoded (all 100)": decoded * scale / mb,
        "idle project: requests / day": idle_requests * scale / len(over),
        "idle project: MB / day on the wire": idle_wire * scale / len(over) / mb,
        "idle project: MB / day decoded": idle_decoded * scale / len(over) / mb,
        "bot CPU (% of a core)": 100 * cpu / seconds,
    }


def _latencies(
    side: Side, sims: dict[str, Simulation], running: list[str], starters: list[str],
    go: dict[str, float], anchor: float, started: float, speed: float, t0: float, t1: float,
) -> dict[str, float]:  # fmt: skip
    """A new run's card after its start (wall s) and completion -> post, from FakeSlack."""
    cards: list[float] = []
    completions: list[float] = []
    posted: dict[tuple[str, str], float] = {}
    for channel in CHANNELS:
        for message in side.slack.messages(channel):
            meta = message.metadata or {}
            payload = meta.get("event_payload") or {}
            project = str(payload.get("project_id"))
            new_run = str(sims[project].runs[1].tuner_job_id) if project in starters else None
            if (
                meta.get("event_type") == "eon_run_started"
                and payload.get("tuner_job_id") == new_run
            ):
                cards.append(float(message.ts) - started)
            if meta.get("event_type") == "eon_trial_completed":
                posted.setdefault((project, str(payload.get("trial_id"))), float(message.ts))
    for project in running:
        simulation = sims[project]
        for run in simulation.runs:
            for trial_id in run.trial_ids:
                attempts = simulation.attempts(trial_id)
                if not attempts or attempts[-1].failed:
                    continue
                wall = anchor + (attempts[-1].end - go[project]) / speed
                if t0 <= wall <= t1 and (project, trial_id) in posted:
                    completions.append(posted[(project, trial_id)] - wall)
    print(
        f"  {side.name}: new run -> card (s): {sorted(round(c, 2) for c in cards)}", file=sys.stderr
    )
    return {
        "new runs' cards seen (of 5)": len(cards),
        "new run -> card, max (s)": max(cards, default=float("nan")),
        "completions posted in window": len(completions),
        "completion -> post p99 (s)": _p(completions, 0.99),
    }


def _print(
    args: argparse.Namespace,
    interval: float,
    full_read: float,
    window: float,
    rows: dict[str, dict[str, float]],
) -> None:
    print(
        f"\n100 projects ({args.trials}-trial runs: 90 over, 5 starting a run mid-window, 5 "
        f"running), clock compressed {args.compress:g}x: POLL_INTERVAL={interval:g} s, "
        f"IDLE_FULL_READ={full_read:g} s (after) or 0 (before), window {window:g} s; per day = at "
        f"the defaults (POLL_INTERVAL={DEFAULT_INTERVAL:g}, IDLE_FULL_READ={DEFAULT_FULL_READ:g})"
    )
    print(f"  {'figure':38} {'before':>12} {'after':>12} {'before/after':>13}")
    for name in rows["before"]:
        b, a = rows["before"][name], rows["after"][name]
        ratio = f"{b / a:13.1f}" if a else f"{'-':>13}"
        print(f"  {name:38} {b:12.2f} {a:12.2f} {ratio}")
    print(f"  (latencies in real seconds of the compressed clock: POLL_INTERVAL is {interval:g} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compress", type=float, default=10.0, help="clock compression")
    parser.add_argument("--full-reads", type=int, default=2, help="window, in IDLE_FULL_READs")
    parser.add_argument("--trials", type=int, default=50, help="trials per simulated run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eon-ei-load-") as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
