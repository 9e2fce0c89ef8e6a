"""The lifecycle every sandbox server shares: an aiohttp app bound to a local port (0 picks a
free one), started and stopped with `async with`, its real port known once started."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


class LocalServer:
    """Subclasses say what they serve (`make_app`) and may let go of long-lived connections
    before the runner stops (`before_stop`)."""

    shutdown_timeout = 60.0
    """aiohttp's grace for requests in flight at `stop()`; servers that hold requests on
    purpose (a delayed answer, an open WebSocket) set a short one."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def before_stop(self) -> None:
        """Called first by `stop()`; nothing by default."""

    async def start(self) -> Self:
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        runner = web.AppRunner(
            self.make_app(), access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await runner.setup()
        # Started again after a stop, it takes back its port: a client keeps the URL it was given.
        port = self._port if self._port is not None else self._requested_port
        try:
            await web.TCPSite(runner, self.host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        # A restart binds the same port, as a service coming back does: tests stop a server
        # to cause an outage and start it again to end it, with clients still pointed at it.
        self._requested_port = self._port
        return self

    async def stop(self) -> None:
        await self.before_stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port; RuntimeError before `start()`."""
        if self._port is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} is not started: use `async with {name}() as server`")
        return self._port

    @property
    def url(self) -> str:
        """`http://HOST:PORT`, the server's base."""
        return f"http://{self.host}:{self.port}"
