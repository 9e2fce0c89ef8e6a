"""What an operator watches, as Prometheus metrics (`GET /metrics`, prometheus_client).

Each bot has its own `CollectorRegistry` (no process-wide default registry), so several bots
in one process (the tests) count apart. Labels carry only fixed words: outcomes, error kinds,
Slack method names and Slack's error codes, never a token, a key, a project's text or a
message. Gauges that describe shared state (the outbox) are read when scraped
(`Metrics.render`); the rest move where the work happens.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# Seconds: a poll is a GET (tens of ms) up to a retried, slow answer (a minute).
POLL_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)
# Seconds from a change seen to its post: a poll interval or two, more behind a rate limit.
DELAY_BUCKETS: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0)
_CODE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,47}$")
_ROUTE: Final = re.compile(r"^[a-z][a-z/{}_-]{0,47}$")  # a template: no id, no key


def label(text: str | None, *, default: str = "other") -> str:
    """`text` if it is a plain code (Slack's `not_in_channel`, a method name), else `default`:
    nothing else reaches a label."""
    return text if text is not None and _CODE.match(text) else default


def _workspaces(r: CollectorRegistry) -> Gauge:
    return Gauge(
        "eonbot_workspaces",
        "Slack workspaces served: installed, and left (their rows are deleted 7 days after; "
        "many-workspace mode). With SLACK_BOT_TOKEN: one, installed.",
        ["state"],
        registry=r,
    )


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "eonbot_polls",
            "Polls of a project, by outcome: ok (a changed document stored), unchanged, idle "
            "(the active jobs stood: no state read), failed (with the error kind).",
            ["outcome", "error"],
            registry=r,
        )
        self.poll_seconds = Histogram(
            "eonbot_poll_duration_seconds",
            "Time one poll took, from asking Edge Impulse to storing what changed.",
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.ei_bytes = Counter(
            "eonbot_edge_impulse_received_bytes",
            "Bytes of tuner state received from Edge Impulse.",
            registry=r,
        )
        self._edge_impulse_metrics(r)
        self.slow_projects = Gauge(
            "eonbot_slow_projects",
            "Projects whose Edge Impulse answers are slow or failing, polled in the slow lane.",
            registry=r,
        )
        self.outbox_waiting = Gauge(
            "eonbot_outbox_waiting",
            "Notifications stored and not yet posted to Slack (all replicas; paused channels "
            "included). 0 when everything is posted.",
            registry=r,
        )
        self.slack_calls = Counter(
            "eonbot_slack_api_calls",
            "Slack Web API calls, by method and result: ok, ratelimited (each 429, also the "
            "ones retried), Slack's error code, or no_answer (timeout, dropped connection).",
            ["method", "result"],
            registry=r,
        )
        self.delivery_delay = Histogram(
            "eonbot_delivery_delay_seconds",
            "From a change seen by a poll (its notification stored) to its post in Slack.",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.leases = Gauge(
            "eonbot_leases_held",
            "Leases this replica holds: poll (projects it polls), deliver (channels it drains).",
            ["kind"],
            registry=r,
        )
        self.stalls_open = Gauge(
            "eonbot_stalls_open",
            "Runs this replica polls that were told stalled and have not moved since.",
            registry=r,
        )
        self.outages_open = Gauge(
            "eonbot_outages_open",
            "Projects this replica polls whose channels were told Edge Impulse is not answering.",
            registry=r,
        )
        for outcome in ("ok", "unchanged", "idle"):
            self.polls.labels(outcome, "")
        for tier in ("running", "idle", "full_reads"):
            self.tiers.labels(tier)
        self.workspaces = _workspaces(r)
        self._refresh: list[Callable[[], Awaitable[None]]] = []

    def _edge_impulse_metrics(self, r: CollectorRegistry) -> None:
        """What polling costs Edge Impulse, and how the polled projects are split by tier."""
        self.ei_requests = Counter(
            "eonbot_edge_impulse_requests",
            "Requests to Edge Impulse by route (a template: optimize/state, jobs, "
            "optimize/{id}/state, …) and HTTP status (no_answer: none came), each attempt of "
            "a retry counted.",
            ["route", "status"],
            registry=r,
        )
        self.ei_wire_bytes = Counter(
            "eonbot_edge_impulse_wire_bytes",
            "Bytes of Edge Impulse's answers as received (compressed, when it compressed them).",
            ["route"],
            registry=r,
        )
        self.ei_decoded_bytes = Counter(
            "eonbot_edge_impulse_decoded_bytes",
            "Bytes of Edge Impulse's answers once decompressed.",
            ["route"],
            registry=r,
        )
        self.tiers = Gauge(
            "eonbot_projects_by_tier",
            "Projects this replica polls, by tier: running (the whole state every poll: a job "
            "runs, or not known yet), idle (the active jobs list; the state when it changes), "
            "full_reads (the jobs list refused, or IDLE_FULL_READ=0).",
            ["tier"],
            registry=r,
        )

    def on_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run `refresh` (e.g. read the outbox's size) before each `render`."""
        self._refresh.append(refresh)

    async def render(self) -> bytes:
        """The text format Prometheus scrapes. A refresh that fails leaves its gauge as it
        was (the database may be away: the scrape still answers)."""
        for refresh in self._refresh:
            with contextlib.suppress(Exception):  # /healthz and the log say why
                await refresh()
        return generate_latest(self.registry)

    def edge_impulse_answer(self, route: str, status: str, wire: int, decoded: int) -> None:
        """One request to Edge Impulse (`bot.tuner.client.Answer`'s fields)."""
        route = route if _ROUTE.match(route) else "other"
        status = status if status.isdigit() and len(status) == 3 else "no_answer"
        self.ei_requests.labels(route, status).inc()
        self.ei_wire_bytes.labels(route).inc(wire)
        self.ei_decoded_bytes.labels(route).inc(decoded)

    def slack_call(self, method: str, result: str) -> None:
        self.slack_calls.labels(label(method), label(result, default="error")).inc()


class CountingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's retry of 429s (as Slack asks, `Retry-After`), counting each 429 it sees,
    since a call it retried into success would otherwise count as a plain `ok`."""

    def __init__(self, metrics: Metrics, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._metrics = metrics

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        retry = await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )
        if retry:
            self._metrics.slack_call(request.url.rstrip("/").rsplit("/", 1)[-1], "ratelimited")
        return retry


class MeteredWebClient(AsyncWebClient):
    """slack_sdk's client, counting each Web API call by method and result at its one door
    (`api_call`: every method, files_upload_v2's steps included)."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            code = error.response.get("error") if error.response is not None else None
            self.metrics.slack_call(api_method, str(code or "error"))
            raise
        except Exception:
            self.metrics.slack_call(api_method, "no_answer")
            raise
        self.metrics.slack_call(api_method, "ok")
        return response


def rate_limit_handler(metrics: Metrics | None, max_retry_count: int = 3) -> AsyncRetryHandler:
    if metrics is None:
        return AsyncRateLimitErrorRetryHandler(max_retry_count=max_retry_count)
    return CountingRateLimitHandler(metrics, max_retry_count=max_retry_count)


def error_kind(error: BaseException) -> str:
    """A metric label for an error: its class in snake case, less the `Tuner` prefix."""
    name = type(error).__name__.removeprefix("Tuner")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
