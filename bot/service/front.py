"""The HTTP front of `eon-bot run`, open from the moment the settings are read.

A platform's health check (Docker's, Heroku's) kills a process whose port does not answer. So
the port is taken first, before the database is opened and Slack is asked who the bot is:
`GET /healthz` answers 503 with what the process is waiting for, `GET /metrics` answers, and
`POST /slack/events` says "starting" (503: Slack tries again) until the bot is ready; from then
on each goes to the bot (`attach`), and so do the install pages of "Add to Slack"
(`GET /slack/install`, `GET /slack/oauth_redirect`: 404 with one workspace). A taken port is
named at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from bot.errors import ConfigError
from bot.metrics import Metrics
from bot.slack.inbound import MAX_BODY_BYTES
from bot.slack.install import INSTALL_PATH, REDIRECT_PATH
from bot.slack.web import health_answer, metrics_answer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def listen(runner: web.AppRunner, port: int) -> int:
    """Serve `runner` on `port` (all interfaces); the port it got (PORT=0 picks one). A port
    that cannot be had is a setting to change, said in one line."""
    try:
        await web.TCPSite(runner, "0.0.0.0", port).start()
    except OSError as error:  # taken, or a privileged port
        raise ConfigError(
            f"cannot listen on PORT={port}: {error.strerror or error}; set PORT to a free port"
        ) from None
    return int(runner.addresses[0][1])


class Front:
    """The port, held for the process's life; `starting()` says what it waits for."""

    def __init__(self, metrics: Metrics, starting: Callable[[], str]) -> None:
        self.metrics = metrics
        self.starting = starting
        self.port: int | None = None
        self._events: Handler | None = None
        self._unhealthy: Callable[[], Awaitable[str | None]] | None = None
        self._pages: Mapping[str, Handler] = {}
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/slack/events", self._slack_events)
        app.router.add_get(INSTALL_PATH, self._install_page)
        app.router.add_get(REDIRECT_PATH, self._install_page)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)

    async def open(self, port: int) -> int:
        await self._runner.setup()
        try:
            self.port = await listen(self._runner, port)
        except ConfigError:
            await self._runner.cleanup()
            raise
        return self.port

    def attach(
        self,
        events: Handler,
        unhealthy: Callable[[], Awaitable[str | None]],
        pages: Mapping[str, Handler] | None = None,
    ) -> None:
        """The bot is ready: Slack's requests, the health check and the install `pages` (by
        path; none with one workspace) are its from now on."""
        self._events, self._unhealthy = events, unhealthy
        self._pages = pages or {}

    async def close(self) -> None:
        await self._runner.cleanup()

    async def _slack_events(self, request: web.Request) -> web.StreamResponse:
        if self._events is None:
            return web.json_response({"ok": False, "reason": self.starting()}, status=503)
        return await self._events(request)

    async def _install_page(self, request: web.Request) -> web.StreamResponse:
        if self._events is None:
            return web.Response(status=503, text=f"eon-bot is {self.starting()}; try again")
        page = self._pages.get(request.path)
        return await page(request) if page is not None else web.Response(status=404)

    async def _healthz(self, _: web.Request) -> web.Response:
        reason = self.starting() if self._unhealthy is None else await self._unhealthy()
        return health_answer(reason)

    async def _metrics(self, _: web.Request) -> web.Response:
        return await metrics_answer(self.metrics.render)
