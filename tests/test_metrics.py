"""`bot.metrics`: Slack calls counted at the client's one door, labels that carry no text,
each bot's own registry, the text format read back by prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError

from bot.metrics import Metrics, label
from bot.sandbox.fakeslack import FakeSlack
from bot.service.edges import slack_client
from bot.service.poller import Poller
from bot.settings import Settings
from bot.store import Store
from bot.tuner.client import TunerClient

TOKEN = "xoxb-metrics-test-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels (prometheus_client's parser)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_slack_calls_are_counted_by_method_and_result() -> None:
    metrics = Metrics()
    async with FakeSlack(token=TOKEN) as fake, aiohttp.ClientSession() as session:
        settings = Settings.given(slack_bot_token=TOKEN, slack_api_url=fake.api_url)
        client = slack_client(settings, session, metrics)
        fake.fail_next("chat.postMessage", status=429, retry_after=1)
        await client.chat_postMessage(channel="C1", text="after a 429")  # retried, then ok
        fake.fail_next("chat.postMessage", error="not_in_channel")
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C1", text="refused")
        await client.auth_test()
    scraped = samples((await metrics.render()).decode())
    calls = "eonbot_slack_api_calls_total"
    assert scraped[(calls, (("method", "chat.postMessage"), ("result", "ok")))] == 1
    assert scraped[(calls, (("method", "chat.postMessage"), ("result", "ratelimited")))] == 1
    assert scraped[(calls, (("method", "chat.postMessage"), ("result", "not_in_channel")))] == 1
    assert scraped[(calls, (("method", "auth.test"), ("result", "ok")))] == 1
    assert TOKEN not in (await metrics.render()).decode()


async def test_a_call_with_no_answer_is_counted_as_such() -> None:
    metrics = Metrics()
    async with FakeSlack(token=TOKEN) as fake, aiohttp.ClientSession() as session:
        settings = Settings.given(slack_bot_token=TOKEN, slack_api_url=fake.api_url)
        client = slack_client(settings, session, metrics)
        fake.fail_next("chat.postMessage", drop_connection=True)
        with pytest.raises(aiohttp.ClientError):
            await client.chat_postMessage(channel="C1", text="lost")
    key = (
        "eonbot_slack_api_calls_total",
        (("method", "chat.postMessage"), ("result", "no_answer")),
    )
    assert samples((await metrics.render()).decode())[key] == 1


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("chat.postMessage", "chat.postMessage"),
        ("not_in_channel", "not_in_channel"),
        ("xoxb-1234-secret", "other"),
        ("a message with spaces", "other"),
        (None, "other"),
        ("x" * 49, "other"),
    ],
)
def test_only_plain_codes_reach_a_label(text: str | None, shown: str) -> None:
    assert label(text) == shown


async def test_each_bot_counts_in_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.polls.labels("failed", "unavailable").inc()
    key = ("eonbot_polls_total", (("error", "unavailable"), ("outcome", "failed")))
    assert samples((await one.render()).decode())[key] == 1
    assert key not in samples((await two.render()).decode())


async def test_a_refresh_that_fails_leaves_the_scrape_answering() -> None:
    metrics = Metrics()
    metrics.outbox_waiting.set(3)

    async def database_away() -> None:
        raise OSError("connection refused")

    metrics.on_scrape(database_away)
    assert samples((await metrics.render()).decode())[("eonbot_outbox_waiting", ())] == 3


async def test_a_slack_error_that_is_not_a_code_never_becomes_a_label() -> None:
    """Slack's `error` is whatever the answer says: anything but a plain code is "error"."""
    metrics = Metrics()
    said = "xoxb-leaked token in an error text"
    async with FakeSlack(token=TOKEN) as fake, aiohttp.ClientSession() as session:
        settings = Settings.given(slack_bot_token=TOKEN, slack_api_url=fake.api_url)
        client = slack_client(settings, session, metrics)
        fake.fail_next("chat.postMessage", error=said)
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C1", text="refused")
    scraped = (await metrics.render()).decode()
    assert said not in scraped and "leaked" not in scraped
    key = ("eonbot_slack_api_calls_total", (("method", "chat.postMessage"), ("result", "error")))
    assert samples(scraped)[key] == 1
    metrics.slack_call("a method/../with text", "ok")  # the method is a label too
    assert "with text" not in (await metrics.render()).decode()


async def test_an_unexpected_poll_error_is_counted_by_kind_never_by_its_text(
    tmp_path: Path,
) -> None:
    """A poll that fails in a way nobody foresaw counts as `unexpected`: its message (which
    may quote a document, a URL or a key) is for the log, never a label."""
    said = "ei_SECRET-key in an unforeseen error"

    def unforeseen(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(said)  # not an httpx error: the client does not map it

    metrics = Metrics()
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    tuner = TunerClient(
        httpx.MockTransport(unforeseen), base_url="https://ei.test/v1",
        api_key_for=lambda _: SecretStr("k"), attempts=1,
    )  # fmt: skip
    poller = Poller(
        store=store, tuner=tuner, scheduler=AsyncIOScheduler(timezone=UTC), interval=10,
        outage_notice_after=300, now=lambda: datetime(2025, 1, 1, tzinfo=UTC),
        on_events=lambda _: None, metrics=metrics,
    )  # fmt: skip
    try:
        await poller.poll("7")  # never raises: one project's failure stops no other
    finally:
        await poller.stop(grace_s=1.0)
        await store.close()
    scraped = (await metrics.render()).decode()
    assert said not in scraped and "SECRET" not in scraped
    key = ("eonbot_polls_total", (("error", "unexpected"), ("outcome", "failed")))
    assert samples(scraped)[key] == 1
