"""Bytes the database keeps per watched project after a long run, before and after pruning.

The in-process stack (real `build()`, simulator, FakeSlack, a SQLite file) watches PROJECTS
projects of TRIALS trials each (an extended search: two runs), runs them to their end, then
sums the stored bytes of each table's rows (the text and key columns, as SQLite stores them)
per project, and again after `prune` with the retention period over (what stays for good).

    python bench/kept_bytes.py [PROJECTS] [TRIALS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from bot.clock import utcnow
from bot.sandbox.stack import CHANNEL, running_stack

TABLES = {
    "projects": "length(project_id) + length(coalesce(snapshot, ''))"
    " + length(coalesce(last_error, ''))",
    "runs": "length(run_id) + length(run_hash) + length(summary)",
    "outbox": "length(event_key) + length(event_hash) + length(event) + length(coalesce(ts, ''))",
    "cards": "length(run_id) + length(run_hash) + length(ts)",
    "subscriptions": "length(channel_id) + length(project_id) + length(added_by)",
}


async def kept(stack: object, projects: int) -> dict[str, float]:
    store = stack.bot.store  # type: ignore[attr-defined]
    sizes: dict[str, float] = {}
    async with store.backend.read() as conn:
        for table, size in TABLES.items():
            total = await conn.scalar(text(f"SELECT coalesce(sum({size}), 0) FROM {table}"))
            sizes[table] = int(total or 0) / projects
    return sizes


async def main(projects: int, trials: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with running_stack(
            Path(folder), speed=2000, trials=trials, poll_interval=0.2
        ) as stack:
            ids = [str(n) for n in range(1, projects + 1)]
            for pid in ids:
                await stack.command(f"watch {pid}")
            end = max(stack.simulator.controller.simulation(p).duration for p in ids) / 2000
            started = time.monotonic()
            while time.monotonic() - started < end + 20:
                if await stack.bot.delivery.idle() and time.monotonic() - started > end + 2:
                    break
                await asyncio.sleep(0.5)
            posts = len(stack.slack.messages(CHANNEL))
            before = await kept(stack, projects)
            gone = await stack.bot.store.prune(utcnow() + timedelta(days=1))
            after = await kept(stack, projects)
        print(f"{projects} projects x {trials} trials, {posts} messages posted; pruned {gone}")
        for table in TABLES:
            print(f"  {table:14} {before[table]:9.0f} B/project  after pruning {after[table]:7.0f}")
        print(
            f"  {'total':14} {sum(before.values()):9.0f} B/project  after pruning "
            f"{sum(after.values()):7.0f}"
        )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [6, 48][len(args) :])))
