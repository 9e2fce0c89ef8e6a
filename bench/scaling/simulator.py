"""The tuner simulator in a child process, so its work is never timed as the bot's (nor as
the bench's), with a log of every poll it answered."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections import defaultdict
from multiprocessing.connection import Connection
from typing import Any

from bot.sandbox.simulator.runs import Render
from bot.sandbox.simulator.server import SimulatorServer
from tests.e2e.harness import EI_KEY


def serve(conn: Connection, speed: float, trials: int) -> None:
    """Serves until told to stop; answers "setup" (which projects run), "go" and "log"."""

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


class Simulator:
    """The child process and the pipe to it."""

    def __init__(self, speed: float, trials: int) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=serve, args=(child, speed, trials), daemon=True)

    def start(self) -> str:
        """Starts the process; its URL."""
        self._process.start()
        url: str = self._conn.recv()
        return url

    def setup(self, running: dict[str, float], over: list[str]) -> None:
        self._conn.send(("setup", {"running": running, "over": over}))
        self._conn.recv()

    def go(self, starts: dict[str, float]) -> dict[str, float]:
        """The running runs move on from their starts; when each did (wall clock)."""
        self._conn.send(("go", starts))
        anchors: dict[str, float] = self._conn.recv()
        return anchors

    def log(self) -> dict[str, list[float]]:
        """Each project's polls so far (wall clock)."""
        self._conn.send(("log", None))
        seen: dict[str, list[float]] = self._conn.recv()
        return seen

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send(("stop", None))
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
