"""Do the hot tables stay at their live size on PostgreSQL? Table sizes over a long run.

Starts a PostgreSQL cluster of its own (initdb in a temporary folder, as the `postgres` user
when run as root; the server's defaults, autovacuum on as in any deployment: the shared test
cluster here runs with autovacuum off, which no deployment does), the tuner simulator and
FakeSlack in this process, and the real `eon-bot run` (`tests/e2e/harness.BotProcess`).
`--projects` projects, each mid-run and moving (so nearly every poll changes the document and
rewrites the project's snapshot and its run's summary), are watched from 10 channels, polled
every `--interval` seconds for `--minutes`. Every `--every` seconds it prints each table's
`pg_total_relation_size` (heap, TOAST and indexes) with its live and dead rows.

`--plain` takes the storage settings off the tables after the bot made them (the schema as
it was before them), for a side-by-side run.

    python bench/storage.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.e2e.harness`

from bot.sandbox.fakeslack import FakeSlack  # noqa: E402
from bot.sandbox.simulator.server import SimulatorServer  # noqa: E402
from bot.sandbox.simulator.simulation import Simulation  # noqa: E402
from tests.e2e.harness import EI_KEY, TOKEN, BotProcess, bot_environment, free_port  # noqa: E402

TABLES = ("projects", "runs", "outbox", "cards", "leases", "subscriptions")
CHANNELS = [f"C0STORE{i:02d}" for i in range(10)]
FIRST_PROJECT = 2001
TRIALS = 24
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as `postgres` then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def private_cluster() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port; its URL; removed afterwards."""
    if not PG_BIN:
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    bindir = PG_BIN[-1]
    folder = Path(tempfile.mkdtemp(prefix="eon-storage-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log")]
    subprocess.run(_as_postgres([*pg_ctl, "-o", options, "-w", "start"]), check=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([*pg_ctl, "-m", "fast", "-w", "stop"]), check=False)
        shutil.rmtree(folder, ignore_errors=True)


async def sizes(conn: asyncpg.Connection) -> dict[str, tuple[int, int, int]]:
    """Per table: total bytes (heap, TOAST, indexes), live rows, dead rows."""
    rows = await conn.fetch(
        "SELECT relname, pg_total_relation_size(relid) AS bytes, n_live_tup, n_dead_tup "
        "FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
        list(TABLES),
    )
    return {r["relname"]: (r["bytes"], r["n_live_tup"], r["n_dead_tup"]) for r in rows}


def _line(elapsed: float, found: dict[str, tuple[int, int, int]]) -> str:
    cells = []
    for table in TABLES:
        size, live, dead = found.get(table, (0, 0, 0))
        cells.append(f"{size / 1024 / 1024:7.2f} MB ({live:>5}/{dead:>5})")
    return f"{elapsed / 60:5.1f} min | " + " | ".join(cells)


async def plain_tables(conn: asyncpg.Connection) -> None:
    """The tables as they were before their storage settings (for `--plain`)."""
    for table in ("projects", "runs", "outbox", "leases"):
        await conn.execute(
            f"ALTER TABLE {table} RESET (fillfactor, autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay, "
            "toast.autovacuum_vacuum_scale_factor, toast.autovacuum_vacuum_threshold, "
            "toast.autovacuum_vacuum_cost_delay)"
        )


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    projects = [str(FIRST_PROJECT + i) for i in range(args.projects)]
    workdir = Path(tempfile.mkdtemp(prefix="eon-storage-bot-"))
    with private_cluster() as database_url:
        await _run_on(args, database_url, projects, workdir, rng)
    shutil.rmtree(workdir, ignore_errors=True)


async def _run_on(
    args: argparse.Namespace,
    database_url: str,
    projects: list[str],
    workdir: Path,
    rng: random.Random,
) -> None:
    async with (
        SimulatorServer(api_key=EI_KEY, trials=TRIALS, speed=args.speed) as simulator,
        FakeSlack(token=TOKEN) as slack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        duration = Simulation(projects[0], trials=TRIALS).duration
        for project in projects:
            simulator.controller.set_time(project, rng.uniform(0, duration * 0.1))
        env = bot_environment(
            slack_api_url=slack.api_url,
            ei_api_url=simulator.url,
            database_url=database_url,
            poll_interval=args.interval,
        )
        bot = BotProcess(workdir, env)
        await bot.start()
        conn = await asyncpg.connect(database_url)
        try:
            if args.plain:
                await plain_tables(conn)
            for i, project in enumerate(projects):
                reply = await bot.command(
                    http,
                    f"watch {project}",
                    response_url=slack.response_url(),
                    channel_id=CHANNELS[i % len(CHANNELS)],
                )
                assert reply.status == 200 and "Watching" in reply.text, reply.body
            for project in projects:  # their runs move from now on
                start = simulator.controller.now(project)
                simulator.controller.set_time(project, start, frozen=False)
            print(
                f"{args.projects} projects, POLL_INTERVAL={args.interval:g} s, simulator at "
                f"{args.speed:g}x, {'plain tables' if args.plain else 'storage settings on'}; "
                "size (live/dead rows):"
            )
            print("  time    | " + " | ".join(f"{t:<24}" for t in TABLES))
            started = time.monotonic()
            end = started + args.minutes * 60
            while True:
                print(_line(time.monotonic() - started, await sizes(conn)), flush=True)
                if time.monotonic() >= end:
                    break
                await asyncio.sleep(min(args.every, max(0.0, end - time.monotonic())))
            polls = sum(simulator.controller.requests(p) for p in projects)
            posted = sum(len(slack.messages(channel)) for channel in CHANNELS)
            print(f"polls answered: {polls}; messages in Slack: {posted}")
        finally:
            await conn.close()
            await bot.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0, help="POLL_INTERVAL")
    parser.add_argument("--speed", type=float, default=8.0, help="simulated seconds a second")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between lines")
    parser.add_argument("--plain", action="store_true", help="no storage settings")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
