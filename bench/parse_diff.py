"""What one whole poll costs the bot, next to the least any client could pay for the same document.

For simulated runs of 50, 500 and 2,000 trials it times `Poller.poll` (the real poller: the
store, a SQLite file, the production tuner client over HTTP (`default_transport`), the
reader thread, the diff and the write) against the floor: `httpx.AsyncClient.get` (httpx's
own transport) of the same document plus `json.loads` of the body.
The cases (the issue's targets in brackets):

- unchanged: the document the last poll stored, asked for again (<= 1.0x the floor);
- unchanged, idle tier: the same finished run polled by the idle tier (`IDLE_FULL_READ`'s
  default): its active jobs list asked for, the same as at the last poll, and no state read;
- changed: the run's last document after the one just before it (about 1 % of the trials,
  at least 2, newly completed, and the job's end) (<= 1.3x);
- after a restart: the same change, read by a new poller, so nothing of the project is in
  memory, only what the store kept (<= 2x);
- after a restart, old snapshot: the same, from a snapshot written before fingerprints were
  kept, so every trial is read (the first poll after an upgrade, or a new watch).

It prints the CPU time each takes (`time.process_time`: this process, all its threads, so the
reader thread and the SQLite driver's count too; the simulator runs elsewhere), median and p90
in ms, and the ratio to the floor's median; the document's size, the snapshot's size and what
the bot keeps in memory for the project between polls.

The simulator runs in a child process (in this one, even in another thread, its handler would
be timed as the client's). Every row is warmed up and the rows run interleaved in a rotating
order, so drift hits them alike; a full garbage collection runs before each measurement.

    python bench/parse_diff.py [--reps 20] [--sizes 50,500,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from sqlalchemy import update

from bot.core.outage import Outage
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.simulator.simulation import Simulation
from bot.service.poller import Poller
from bot.store import Store
from bot.store.schema import projects
from bot.tuner.client import TunerClient, default_transport
from bot.tuner.models import TrialStatus

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

PROJECT = "7"
KEY = "ei_bench"
WARMUP = 3


def _serve(trials: int, conn: Connection) -> None:
    """Child process: the simulator, each project's clock frozen where the parent says."""

    async def main() -> None:
        async with SimulatorServer(trials=trials) as server:
            controller = server.controller
            simulation = controller.simulation(PROJECT)
            for t in (simulation.duration, _behind(simulation)):
                simulation.document_bytes(t)  # render (and cache) before timing
            conn.send(server.url)
            loop = asyncio.get_running_loop()
            while (t := await loop.run_in_executor(None, conn.recv)) is not None:
                controller.set_time(PROJECT, t)
                conn.send(True)

    asyncio.run(main())


def _behind(simulation: Simulation) -> float:
    """A second at which the last 1 % of the trials (at least 2) to complete had not yet."""
    final = json.loads(simulation.document_bytes(simulation.duration))
    ends = sorted(
        attempts[-1].end
        for trial in final["trials"]
        if trial["status"] == TrialStatus.COMPLETED
        and (attempts := simulation.attempts(trial["id"]))
    )
    return float(ends[-max(2, len(ends) // 100)] - 1)


def _ms(samples: list[float]) -> tuple[float, float]:
    p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1]
    return statistics.median(samples) * 1e3, p90 * 1e3


class Rig:
    """A store, a tuner client and pollers, against the simulator at `url`."""

    def __init__(
        self,
        url: str,
        store: Store,
        http: httpx.AsyncClient,
        polling: httpx.AsyncBaseTransport,
        sim: Connection,
    ) -> None:
        self.url, self.store, self.http, self.sim = url, store, http, sim
        self.tuner = TunerClient(polling, base_url=url, api_key_for=lambda _: SecretStr(KEY))
        self.poller = self.new_poller()

    def new_poller(self, *, idle: bool = False) -> Poller:
        """`idle`: with the idle tier (`IDLE_FULL_READ`'s default), else every poll whole."""
        return Poller(
            store=self.store,
            tuner=self.tuner,
            scheduler=AsyncIOScheduler(timezone=UTC),
            interval=10,
            outage_notice_after=300,
            now=lambda: datetime.now(UTC),
            on_events=lambda _project: None,
            idle_full_read=1800.0 if idle else 0.0,
        )

    async def at(self, t: float) -> None:
        self.sim.send(t)
        await asyncio.get_running_loop().run_in_executor(None, self.sim.recv)

    async def stored_at(self, t: float, *, listing: bool = True, idle: bool = False) -> None:
        """The store and a poller as they are after a poll of the document at `t` (the first
        look at the project, so the next poll owes the channel what changed since)."""
        async with self.store.backend.write() as conn:
            clear = update(projects).where(projects.c.project_id == PROJECT)
            await conn.execute(clear.values(snapshot=None))
        await self.at(t)
        self.poller = self.new_poller(idle=idle)
        await self.poller.poll(PROJECT)
        if not listing:  # as an older eon-bot wrote it: no fingerprints
            snapshot, _ = await self.store.load_project(PROJECT)
            assert snapshot is not None
            await self.store.save_poll(
                PROJECT,
                snapshot=snapshot.model_copy(update={"listing": None}),
                events=[],
                outage=Outage(),
            )


async def bench(trials: int, reps: int) -> None:
    simulation = Simulation(PROJECT, trials=trials)
    final_t, behind_t = float(simulation.duration), _behind(simulation)
    body = simulation.document_bytes(final_t)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(trials, child), daemon=True)
    server.start()
    try:
        url: str = parent.recv()
        with tempfile.TemporaryDirectory() as folder:
            store = await Store.open(f"sqlite:///{Path(folder) / 'bot.db'}")
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as http,  # the floor's
                default_transport() as polling,
            ):
                await store.subscribe(T, "C1", PROJECT, added_by="U1")
                rig = Rig(url, store, http, polling, parent)
                samples = await _measure(rig, final_t, behind_t, reps)
                snapshot, _ = await store.load_project(PROJECT)
                kept = _kept(rig)
            await store.close()
    finally:
        parent.send(None)
        server.join(10)
        if server.is_alive():
            server.kill()
    assert snapshot is not None
    floor, _ = _ms(samples["floor"])
    size = len(snapshot.model_dump_json())
    print(
        f"\n{trials} trials: document {len(body) / 1024:,.0f} KB, snapshot {size / 1024:,.0f} KB, "
        f"kept in memory between polls {kept:,} bytes ({kept / size:.2f}x the snapshot); "
        f"{reps} reps"
    )
    print(f"  CPU per poll {'':21} {'median ms':>10} {'p90 ms':>10} {'/ floor':>8}  target")
    targets = {"unchanged": "<= 1.0", "changed": "<= 1.3", "changed, after a restart": "<= 2.0"}
    targets["unchanged, idle tier (jobs list)"] = "<= unchanged"
    for name, values in samples.items():
        median, p90 = _ms(values)
        target = targets.get(name, "")
        print(f"  {name:34} {median:10.2f} {p90:10.2f} {median / floor:8.2f}  {target}")


def _kept(rig: Rig) -> int:
    """Bytes the bot holds for the project between polls: the poller's digest, stall time,
    snapshot (its JSON text) and outage, the store's summary for `/eon status`."""
    stored = rig.poller._stored.get(PROJECT)
    total = 0
    if stored is not None:
        total += sys.getsizeof(stored) + sys.getsizeof(stored.digest)
        total += sys.getsizeof(stored.stall_due) if stored.stall_due else 0
        total += sys.getsizeof(stored.snapshot) + sys.getsizeof(stored.outage)
    view = rig.store.backend.memory.summary(PROJECT)
    return total + (sys.getsizeof(view) if view is not None else 0)


async def _measure(rig: Rig, final_t: float, behind_t: float, reps: int) -> dict[str, list[float]]:
    state_url = f"{rig.url}/api/{PROJECT}/optimize/state"
    headers = {"x-api-key": KEY, "Accept": "application/json"}

    async def floor() -> None:
        json.loads((await rig.http.get(state_url, headers=headers)).content)

    async def unchanged() -> None:
        await rig.poller.poll(PROJECT)

    async def changed() -> None:
        await rig.poller.poll(PROJECT)

    setups: dict[str, Callable[[], Awaitable[None]]] = {
        "floor": lambda: rig.at(final_t),
        "unchanged": lambda: rig.stored_at(final_t),
        "unchanged, idle tier (jobs list)": lambda: rig.stored_at(final_t, idle=True),
        "changed": lambda: _then(rig.stored_at(behind_t), rig.at(final_t)),
        "changed, after a restart": lambda: _then(
            rig.stored_at(behind_t), rig.at(final_t), _restart(rig)
        ),
        "changed, after a restart, old snapshot": lambda: _then(
            rig.stored_at(behind_t, listing=False), rig.at(final_t), _restart(rig)
        ),
    }
    actions = {"floor": floor, "unchanged": unchanged}
    actions["unchanged, idle tier (jobs list)"] = unchanged
    actions |= {name: changed for name in setups if name.startswith("changed")}
    samples: dict[str, list[float]] = {name: [] for name in setups}
    names = list(setups)
    for rep in range(WARMUP + reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            await setups[name]()
            gc.collect()
            start = time.process_time()  # CPU of this process, all its threads
            await actions[name]()
            if rep >= WARMUP:
                samples[name].append(time.process_time() - start)
    return samples


async def _restart(rig: Rig) -> None:
    rig.poller = rig.new_poller()


async def _then(*steps: Awaitable[None]) -> None:
    for step in steps:
        await step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=20, help="measurements of each (>= 10)")
    parser.add_argument("--sizes", default="50,500,2000", help="trial counts, comma-separated")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        asyncio.run(bench(size, max(args.reps, 10)))


if __name__ == "__main__":
    main()
