"""What one poll costs the bot, next to the least any client could pay for the same document.

For simulated runs of 50, 500 and 2,000 trials, frozen at the run's final document, it times:

- floor: `httpx.AsyncClient.get` of the state document plus `json.loads` of the body;
- poll: `TunerClient.get_state` (the same GET, then pydantic validation) plus
  `diff(previous snapshot, state)`, once with the previous snapshot identical (a quiet poll)
  and once one step behind (the poll that sees the last trials complete and the job end),
  and once identical but through a new `TunerClient` (nothing kept from earlier answers, as
  after a restart);

and prints median and p90 in ms, the document size and the ratio poll / floor (target: at
most 1.25 at 500 trials). Then the poll's pure parts alone, without HTTP, to show where the
difference goes.

The simulator runs in a child process: in the same process (even in another thread, which
shares the GIL) its aiohttp handler and socket writes would run between the client's steps and
be timed as the client's, which inflates both sides and hides the ratio. Both sides share one
`httpx.AsyncClient` (keep-alive, so no connection setup is timed), are warmed up, and run
interleaved in a rotating order, so drift (CPU frequency, the other process) hits them alike.
A full garbage collection runs between measurements, not inside them.

    python bench/parse_diff.py [--reps 40] [--sizes 50,500,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from multiprocessing.connection import Connection

import httpx
from pydantic import SecretStr

from bot.core.diff import diff
from bot.core.events import Snapshot
from bot.core.summary import summarize_run
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.simulator.simulation import SIM_EPOCH, Simulation
from bot.tuner.client import TunerClient
from bot.tuner.models import OptimizeStateResponse, TrialStatus

PROJECT = "7"
KEY = "ei_bench"
WARMUP = 5


def _serve(trials: int, conn: Connection) -> None:
    """Child process: the simulator, frozen at the run's final document, until told to stop."""

    async def main() -> None:
        async with SimulatorServer(trials=trials) as server:
            simulation = server.controller.simulation(PROJECT)
            server.controller.set_time(PROJECT, simulation.duration)
            simulation.document_bytes(simulation.duration)  # render (and cache) it before timing
            conn.send(server.url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


def _one_step_behind(simulation: Simulation, final: OptimizeStateResponse, newly: int) -> float:
    """A second at which the last `newly` trials to complete had not yet: the poll before one
    that sees them complete and the job end (a busy poll interval)."""
    ends = sorted(
        attempts[-1].end
        for trial in final.trials
        if trial.status == TrialStatus.COMPLETED and (attempts := simulation.attempts(trial.id))
    )
    return float(ends[-newly] - 1)


def _snapshot(states: list[OptimizeStateResponse]) -> Snapshot:
    snapshot: Snapshot | None = None
    for i, state in enumerate(states):
        now = SIM_EPOCH + timedelta(seconds=i)
        snapshot = diff(snapshot, state, project_id=PROJECT, now=now).snapshot
    assert snapshot is not None
    # What the store hands the poller: a snapshot restored from its JSON.
    return Snapshot.model_validate_json(snapshot.model_dump_json())


def _ms(samples: list[float]) -> tuple[float, float]:
    """(median, p90) in ms."""
    p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1]
    return statistics.median(samples) * 1e3, p90 * 1e3


async def _timed(action: Callable[[], Awaitable[object]]) -> float:
    gc.collect()
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def bench(trials: int, reps: int) -> None:
    simulation = Simulation(PROJECT, trials=trials)
    body = simulation.document_bytes(simulation.duration)
    final = OptimizeStateResponse.model_validate_json(body)
    behind_t = _one_step_behind(simulation, final, max(2, trials // 100))
    behind = OptimizeStateResponse.model_validate_json(simulation.document_bytes(behind_t))
    previous = {
        "identical": _snapshot([final, final]),
        "one step behind": _snapshot([behind]),
    }
    newly = sum(t.status == TrialStatus.COMPLETED for t in final.trials) - sum(
        t.status == TrialStatus.COMPLETED for t in behind.trials
    )

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(trials, child), daemon=True)
    server.start()
    try:
        url: str = parent.recv()
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(60.0), limits=httpx.Limits(max_keepalive_connections=5)
        ) as http:
            client = TunerClient(http, base_url=url, api_key_for=lambda _: SecretStr(KEY))
            state_url = f"{url}/api/{PROJECT}/optimize/state"
            headers = {"x-api-key": KEY, "Accept": "application/json"}
            now = SIM_EPOCH + timedelta(seconds=simulation.duration)

            async def floor() -> object:
                response = await http.get(state_url, headers=headers)
                return json.loads(response.content)

            def poll(snapshot: Snapshot) -> Callable[[], Awaitable[object]]:
                async def run() -> object:
                    state = await client.get_state(PROJECT)
                    return diff(snapshot, state, project_id=PROJECT, now=now)

                return run

            async def cold() -> object:
                # A new client each time: nothing kept from an earlier answer (a restart).
                fresh = TunerClient(http, base_url=url, api_key_for=lambda _: SecretStr(KEY))
                state = await fresh.get_state(PROJECT)
                return diff(previous["identical"], state, project_id=PROJECT, now=now)

            actions = {"floor": floor} | {f"poll, {k}": poll(s) for k, s in previous.items()}
            actions["poll, identical, new client"] = cold
            got = await floor()
            assert isinstance(got, dict) and len(got["trials"]) == len(final.trials)
            for action in actions.values():
                for _ in range(WARMUP):
                    await action()
            samples: dict[str, list[float]] = {name: [] for name in actions}
            names = list(actions)
            for rep in range(reps):
                shift = rep % len(names)
                for name in names[shift:] + names[:shift]:
                    samples[name].append(await _timed(actions[name]))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.kill()

    floor_median, _ = _ms(samples["floor"])
    print(
        f"\n{trials} trials: document {len(body) / 1024:,.0f} KB, {len(final.trials)} listed; "
        f"one step behind = t {behind_t:.0f}s ({newly} trials newly completed, job end); "
        f"{reps} reps"
    )
    print(f"  {'':32} {'median ms':>10} {'p90 ms':>10} {'/ floor':>8}")
    for name, values in samples.items():
        median, p90 = _ms(values)
        print(f"  {name:32} {median:10.2f} {p90:10.2f} {median / floor_median:8.2f}")

    # The poll's pure parts, in this process, without HTTP (medians of `reps` runs).
    identical = previous["identical"]
    parts: dict[str, Callable[[], object]] = {
        "json.loads": lambda: json.loads(body),
        "model_validate_json": lambda: OptimizeStateResponse.model_validate_json(body),
        "diff (identical)": lambda: diff(identical, final, project_id=PROJECT, now=now),
        "  of which summarize_run": lambda: summarize_run(PROJECT, final, now=now),
    }
    print("  pure parts, no HTTP:")
    for name, part in parts.items():
        values = []
        for _ in range(reps):
            gc.collect()
            start = time.perf_counter()
            part()
            values.append(time.perf_counter() - start)
        median, p90 = _ms(values)
        print(f"    {name:30} {median:10.2f} {p90:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=40, help="measurements of each (>= 30)")
    parser.add_argument("--sizes", default="50,500,2000", help="trial counts, comma-separated")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        asyncio.run(bench(size, max(args.reps, 30)))


if __name__ == "__main__":
    main()
