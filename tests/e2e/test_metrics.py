"""`GET /metrics` of the real `eon-bot run` process, read with prometheus_client's own text
parser: the counters move through a whole run that meets an Edge Impulse fault (a poll whose
every attempt gets a 502) and a Slack rate limit (a 429 on a post), and the gauges settle
(nothing waiting in the outbox once all is posted). Socket Mode serves it too
(tests/e2e/test_socket_mode.py checks `/healthz` there; the same web app serves both)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.sandbox.simulator.server import Fault

from .harness import (
    CHANNEL,
    EI_KEY,
    TOKEN,
    Stack,
    delivered_all,
    e2e_stack,
    explain,
    owed_notifications,
    step_with_news,
)

pytestmark = pytest.mark.e2e

TRIALS = 8
DELIVERY_TIMEOUT_S = 40.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with e2e_stack(tmp_path, trials=TRIALS) as running:
        yield running


async def scrape(stack: Stack) -> tuple[str, Samples]:
    response = await stack.http.get(f"{stack.bot.base_url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def settled(stack: Stack, *, within: float) -> tuple[str, Samples]:
    """A scrape once the outbox gauge reads 0: Slack shows the last post a moment before the
    bot has recorded it sent (its answer is still on its way back), so one scrape right after
    the channel is complete can still count it waiting. Hang guard: `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        text, samples = await scrape(stack)
        if value(samples, "eonbot_outbox_waiting") == 0 or loop.time() > deadline:
            return text, samples
        await asyncio.sleep(0.05)


async def test_metrics_move_through_a_run_with_an_edge_impulse_fault_and_a_rate_limit(
    stack: Stack,
) -> None:
    simulation = stack.simulation
    owed = owed_notifications(simulation)
    times = [t for t in simulation.milestones() if t > 0]
    with explain(stack.bot):
        await stack.bot.start()
        _, before = await scrape(stack)
        assert value(before, "eonbot_polls_total", outcome="ok", error="") == 0
        await stack.watch()

        # Edge Impulse: one poll whose three attempts all get a 502 (a failed poll).
        stack.controller.inject(stack.project_id, *[Fault.error(502)] * 3)
        await stack.advance(times[0], polls=4)
        # Slack: the next post is refused with 429 (Retry-After 1 s), then goes through.
        stack.slack.fail_next("chat.postMessage", status=429, retry_after=1)
        middle = step_with_news(times, owed, 1)
        for t in times[1:]:
            await stack.advance(t)
            if t == times[middle]:
                _, during = await scrape(stack)
        await stack.slack.wait_for(
            lambda fake: delivered_all(fake, CHANNEL, owed), timeout=DELIVERY_TIMEOUT_S
        )
        text, after = await settled(stack, within=DELIVERY_TIMEOUT_S)

    posts = value(after, "eonbot_slack_api_calls_total", method="chat.postMessage", result="ok")
    assert value(after, "eonbot_polls_total", outcome="failed", error="unavailable") >= 1
    assert value(after, "eonbot_polls_total", outcome="ok", error="") >= len(times)
    assert value(after, "eonbot_polls_total", outcome="ok", error="") > value(
        during, "eonbot_polls_total", outcome="ok", error=""
    )
    assert value(after, "eonbot_polls_total", outcome="unchanged", error="") > 0
    assert value(after, "eonbot_poll_duration_seconds_count") > value(
        before, "eonbot_poll_duration_seconds_count"
    )
    assert value(after, "eonbot_edge_impulse_received_bytes_total") > 10_000
    assert (
        value(
            after, "eonbot_slack_api_calls_total", method="chat.postMessage", result="ratelimited"
        )
        == 1
    )
    assert posts >= len([item for item in owed if item.event_type != "eon_run_chart"])
    assert value(after, "eonbot_slack_api_calls_total", method="chat.update", result="ok") > 0
    assert value(after, "eonbot_delivery_delay_seconds_count") >= posts
    assert value(after, "eonbot_delivery_delay_seconds_bucket", le="+Inf") >= posts
    await_settled = value(after, "eonbot_outbox_waiting")
    assert await_settled == 0, "notifications still waiting after all were posted"
    assert value(after, "eonbot_leases_held", kind="poll") == 1
    assert value(after, "eonbot_outages_open") == 0 and value(after, "eonbot_stalls_open") == 0
    for secret in (TOKEN, EI_KEY):
        assert secret not in text
    ok = value(after, "eonbot_polls_total", outcome="ok", error="")
    failed = value(after, "eonbot_polls_total", outcome="failed", error="unavailable")
    limited = value(
        after, "eonbot_slack_api_calls_total", method="chat.postMessage", result="ratelimited"
    )
    print(f"\n/metrics after the run: polls ok {ok:g}, failed (unavailable) {failed:g}, ")
    print(f"posts {posts:g}, 429s {limited:g}")
