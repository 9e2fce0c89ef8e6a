"""How a command that runs until told to stop is stopped: SIGINT (Ctrl-C) and SIGTERM caught on
the running loop, so either ends it cleanly, and Ctrl-C still ends the process with exit 130
(`bot.cli.EXIT_CODES`) once all is closed, as a shell expects of an interrupted command."""

from __future__ import annotations

import asyncio
import signal
from types import TracebackType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopping:
    """`with Stopping() as stopping:` … `await stopping.event.wait()` …; after the block,
    `stopping.end()` raises KeyboardInterrupt if it was Ctrl-C (`main` turns that into 130)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.caught: signal.Signals | None = None

    def _on(self, signum: signal.Signals) -> None:
        if self.caught is None:
            self.caught = signum
        self.event.set()

    def __enter__(self) -> Stopping:
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.add_signal_handler(signum, self._on, signum)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)

    def end(self) -> None:
        """After the clean stop: Ctrl-C ends as an interrupt; SIGTERM (a platform's stop) as 0."""
        if self.caught == signal.SIGINT:
            raise KeyboardInterrupt
