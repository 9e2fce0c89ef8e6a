"""FakeSlack answers the real slack_sdk AsyncWebClient the way Slack does.

Every test talks HTTP through the real client, so these also pin down how slack_sdk encodes
requests and reacts to 429s, 5xx and dropped connections: the behaviour the bot relies on.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.sandbox.fakeslack import BOT_USER_ID, FakeSlack, Message, blocks_to_lines
from bot.sandbox.terminal import TerminalPrinter

TOKEN = "xoxb-test"
FAST = FixedValueRetryIntervalCalculator(0.01)


class Clock:
    """A clock the test moves, for limits measured in seconds or minutes."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as server:
        yield server


def client(fake: FakeSlack, *, token: str = TOKEN, retry_handlers: Any = None) -> AsyncWebClient:
    """No retries unless asked: slack_sdk's default retries a dropped connection once."""
    return AsyncWebClient(token=token, base_url=fake.api_url, retry_handlers=retry_handlers or [])


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


META = {"event_type": "eon_run_started", "event_payload": {"project_id": 42, "trials": 30}}


# -- messages, threads, metadata -------------------------------------------------------------------


async def test_post_reply_update_and_metadata_round_trip(fake: FakeSlack) -> None:
    slack = client(fake)
    card = await slack.chat_postMessage(
        channel="C1", text="run started", blocks=[section("0 / 30 trials")], metadata=META
    )
    assert card["ok"] and card["channel"] == "C1"
    assert card["message"]["metadata"] == META
    reply = await slack.chat_postMessage(
        channel="C1",
        text="trial 1 failed",
        thread_ts=card["ts"],
        reply_broadcast=True,
        metadata={"event_type": "eon_trial_failed", "event_payload": {"trial_id": "t1"}},
    )
    quiet = await slack.chat_postMessage(channel="C1", text="trial 2 done", thread_ts=card["ts"])
    updated = await slack.chat_update(
        channel="C1", ts=card["ts"], text="run started", blocks=[section("2 / 30 trials")]
    )
    assert updated["message"]["blocks"] == [section("2 / 30 trials")]

    # The recording: one card, edited once, with two replies under it.
    [top] = fake.top_level("C1")
    assert top.ts == card["ts"] and top.edit_count == 1
    assert top.edits[0].blocks == [section("0 / 30 trials")]
    assert top.blocks == [section("2 / 30 trials")] and top.metadata == META
    assert [m.ts for m in fake.replies("C1", card["ts"])] == [reply["ts"], quiet["ts"]]
    assert [m.ts for m in fake.messages("C1")] == [card["ts"], reply["ts"], quiet["ts"]]

    # History: newest first, broadcast reply included, quiet reply not; metadata when asked.
    history = await slack.conversations_history(channel="C1", include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [reply["ts"], card["ts"]]
    broadcast, parent = history["messages"]
    assert broadcast["subtype"] == "thread_broadcast"
    assert broadcast["metadata"]["event_type"] == "eon_trial_failed"
    assert parent["metadata"] == META and parent["reply_count"] == 2
    assert parent["edited"]["user"] == BOT_USER_ID
    plain = await slack.conversations_history(channel="C1")
    assert all("metadata" not in m for m in plain["messages"])

    thread = await slack.conversations_replies(
        channel="C1", ts=card["ts"], include_all_metadata=True
    )
    assert [m["ts"] for m in thread["messages"]] == [card["ts"], reply["ts"], quiet["ts"]]
    assert thread["messages"][0]["metadata"] == META
    assert thread["messages"][1]["metadata"]["event_payload"] == {"trial_id": "t1"}


async def test_slack_sdk_encodings_are_all_understood(fake: FakeSlack) -> None:
    slack = client(fake)
    await slack.auth_test()
    await slack.chat_postMessage(channel="C1", text="hi")
    await slack.conversations_history(channel="C1")
    # A hand-made form post, blocks and metadata as JSON strings, token in the body.
    tokenless = AsyncWebClient(base_url=fake.api_url, retry_handlers=[])
    await tokenless.api_call(
        "chat.postMessage",
        data={
            "token": TOKEN,
            "channel": "C1",
            "text": "form",
            "blocks": '[{"type": "divider"}]',
            "metadata": '{"event_type": "x", "event_payload": {"n": 1}}',
        },
    )
    assert [(c.method, c.encoding) for c in fake.calls] == [
        ("auth.test", "query"),
        ("chat.postMessage", "json"),
        ("conversations.history", "query"),
        ("chat.postMessage", "form"),
    ]
    form_message = fake.messages("C1")[-1]
    assert form_message.blocks == [{"type": "divider"}]
    assert form_message.metadata == {"event_type": "x", "event_payload": {"n": 1}}
    assert "token" not in fake.calls[-1].args


async def test_malformed_json_body(fake: FakeSlack) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.api_url + "chat.postMessage", data=b"{oops", headers=headers) as resp,
    ):
        assert await resp.json() == {"ok": False, "error": "invalid_json"}
    assert fake.messages("C1") == []


async def test_ts_strictly_increases_even_when_the_clock_stands_still() -> None:
    async with FakeSlack(token=TOKEN, clock=Clock()) as fake:
        slack = client(fake)
        stamps = [(await slack.chat_postMessage(channel="C1", text=str(i)))["ts"] for i in range(4)]
    assert stamps[0] == "1700000000.000000"
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 4
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


async def test_history_pages_with_cursor_and_time_window(fake: FakeSlack) -> None:
    slack = client(fake)
    stamps = [(await slack.chat_postMessage(channel="C1", text=str(i)))["ts"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await slack.conversations_history(channel="C1", limit=2, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert pages == 3 and seen == stamps[::-1]

    exclusive = await slack.conversations_history(channel="C1", oldest=stamps[1], latest=stamps[3])
    assert [m["ts"] for m in exclusive["messages"]] == [stamps[2]]
    inclusive = await slack.conversations_history(
        channel="C1", oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["ts"] for m in inclusive["messages"]] == [stamps[3], stamps[2], stamps[1]]

    with pytest.raises(SlackApiError) as bad:
        await slack.conversations_history(channel="C1", cursor="not-a-cursor")
    assert bad.value.response["error"] == "invalid_cursor"


async def test_replies_page_and_unknown_thread(fake: FakeSlack) -> None:
    slack = client(fake)
    parent = (await slack.chat_postMessage(channel="C1", text="card"))["ts"]
    replies = [
        (await slack.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=parent))["ts"]
        for i in range(3)
    ]
    first = await slack.conversations_replies(channel="C1", ts=parent, limit=2)
    assert [m["ts"] for m in first["messages"]] == [parent, replies[0]]
    rest = await slack.conversations_replies(
        channel="C1", ts=parent, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == replies[1:] and not rest["has_more"]
    with pytest.raises(SlackApiError) as missing:
        await slack.conversations_replies(channel="C1", ts="1.000001")
    assert missing.value.response["error"] == "thread_not_found"


async def test_reply_to_a_reply_threads_under_the_parent(fake: FakeSlack) -> None:
    slack = client(fake)
    parent = (await slack.chat_postMessage(channel="C1", text="card"))["ts"]
    reply = (await slack.chat_postMessage(channel="C1", text="a", thread_ts=parent))["ts"]
    await slack.chat_postMessage(channel="C1", text="b", thread_ts=reply)
    assert [m.text for m in fake.replies("C1", parent)] == ["a", "b"]


# -- Slack's checks --------------------------------------------------------------------------------


async def test_wrong_missing_and_revoked_tokens(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as wrong:
        await client(fake, token="xoxb-wrong").auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.api_url, retry_handlers=[]).auth_test()
    assert missing.value.response["error"] == "not_authed"

    assert (await client(fake).auth_test())["user_id"] == BOT_USER_ID
    fake.set_token("xoxb-rotated")
    with pytest.raises(SlackApiError) as revoked:
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert revoked.value.response["error"] == "invalid_auth"
    assert fake.messages("C1") == []
    assert (await client(fake, token="xoxb-rotated").auth_test())["ok"]


async def test_unknown_method(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        await client(fake).api_call("chat.scheduleEverything", json={"channel": "C1"})
    assert err.value.response["error"] == "unknown_method"


def _fields(n: int, size: int = 10) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * size}] * n}


def _header(size: int) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": "h" * size}}


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ([section("x")] * 50, None),
        ([section("x")] * 51, "invalid_blocks"),
        ([section("x" * 3000)], None),
        ([section("x" * 3001)], "invalid_blocks"),
        ([_fields(10)], None),
        ([_fields(11)], "invalid_blocks"),
        ([_fields(1, size=2000)], None),
        ([_fields(1, size=2001)], "invalid_blocks"),
        ([_header(150)], None),
        ([_header(151)], "invalid_blocks"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "invalid_blocks"),
        ([section("")], "invalid_blocks"),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            "invalid_blocks",
        ),
        ("not json", "invalid_blocks_format"),
    ],
)
async def test_block_kit_limits(fake: FakeSlack, blocks: Any, error: str | None) -> None:
    post = client(fake).chat_postMessage(channel="C1", text="fallback", blocks=blocks)
    if error is None:
        assert (await post)["ok"]
        assert len(fake.messages("C1")) == 1
        return
    with pytest.raises(SlackApiError) as err:
        await post
    assert err.value.response["error"] == error
    assert fake.messages("C1") == []


async def test_invalid_blocks_answer_points_at_the_block(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        await client(fake).chat_postMessage(
            channel="C1", text="t", blocks=[section("ok"), section("x" * 3001)]
        )
    assert err.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    ]


async def test_text_limits_and_no_text(fake: FakeSlack) -> None:
    slack = client(fake)
    ts = (await slack.chat_postMessage(channel="C1", text="x" * 40_000))["ts"]
    with pytest.raises(SlackApiError) as too_long:
        await slack.chat_postMessage(channel="C1", text="x" * 40_001)
    assert too_long.value.response["error"] == "msg_too_long"
    await slack.chat_update(channel="C1", ts=ts, text="y" * 4_000)
    with pytest.raises(SlackApiError) as update_too_long:
        await slack.chat_update(channel="C1", ts=ts, text="y" * 4_001)
    assert update_too_long.value.response["error"] == "msg_too_long"
    # slack_sdk itself warns before sending a message without text.
    with pytest.warns(UserWarning, match="text"), pytest.raises(SlackApiError) as no_text:
        await slack.chat_postMessage(channel="C1")
    assert no_text.value.response["error"] == "no_text"
    assert fake.message("C1", ts).text == "y" * 4_000


@pytest.mark.parametrize(
    "metadata",
    [
        {"event_type": "x"},
        {"event_payload": {}},
        {"event_type": "", "event_payload": {}},
        {"event_type": "x", "event_payload": "not an object"},
        "{not json",
    ],
)
async def test_metadata_shape_is_checked(fake: FakeSlack, metadata: Any) -> None:
    with pytest.raises(SlackApiError) as err:
        await client(fake).chat_postMessage(channel="C1", text="t", metadata=metadata)
    assert err.value.response["error"] == "invalid_metadata_format"


async def test_update_of_unknown_or_foreign_message(fake: FakeSlack) -> None:
    slack = client(fake)
    with pytest.raises(SlackApiError) as unknown:
        await slack.chat_update(channel="C1", ts="1700000000.000001", text="x")
    assert unknown.value.response["error"] == "message_not_found"
    human = fake.add_message("C1", "hello from a person")
    with pytest.raises(SlackApiError) as foreign:
        await slack.chat_update(channel="C1", ts=human.ts, text="x")
    assert foreign.value.response["error"] == "cant_update_message"
    assert fake.message("C1", human.ts).text == "hello from a person"


async def test_update_keeps_what_it_does_not_send(fake: FakeSlack) -> None:
    slack = client(fake)
    card = await slack.chat_postMessage(
        channel="C1", text="t", blocks=[section("a")], metadata=META
    )
    ts = card["ts"]
    await slack.chat_update(channel="C1", ts=ts, text="t2")
    msg = fake.message("C1", ts)
    assert (msg.text, msg.blocks, msg.metadata) == ("t2", [section("a")], META)


async def test_channel_states(fake: FakeSlack) -> None:
    slack = client(fake)
    expected = {"missing": "channel_not_found", "archived": "is_archived"}
    expected["not_in_channel"] = "not_in_channel"
    for state, error in expected.items():
        fake.set_channel_state("C1", state)  # type: ignore[arg-type]
        with pytest.raises(SlackApiError) as err:
            await slack.chat_postMessage(channel="C1", text="hi")
        assert err.value.response["error"] == error
    fake.set_channel_state("C1", "archived")
    info = await slack.conversations_info(channel="C1")
    assert info["channel"]["is_archived"] is True
    assert (await slack.conversations_history(channel="C1"))["ok"]  # archived is still readable
    fake.set_channel_state("C1", "ok")
    assert (await slack.chat_postMessage(channel="C1", text="back"))["ok"]
    assert [m.text for m in fake.messages("C1")] == ["back"]


async def test_ephemeral_is_recorded_apart(fake: FakeSlack) -> None:
    answer = await client(fake).chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert answer["message_ts"]
    assert fake.messages("C1") == []
    [eph] = fake.ephemerals("C1")
    assert (eph.visible_to, eph.text) == ("U1", "only you")


# -- fault injection -------------------------------------------------------------------------------


async def test_429_is_waited_out_by_the_rate_limit_handler(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    slack = client(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    answer = await slack.chat_postMessage(channel="C1", text="hi")
    assert answer["ok"]
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    calls = fake.calls_to("chat.postMessage")
    assert [(c.status, c.error) for c in calls] == [(429, "ratelimited"), (200, None)]
    assert len(fake.messages("C1")) == 1


async def test_429_surfaces_without_a_handler(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"


async def test_server_error_surfaces_or_is_retried(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=500)
    with pytest.raises(SlackApiError) as err:
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 500
    assert err.value.response["error"] == "internal_error"

    fake.fail_next("chat.postMessage", status=503)
    retrying = client(fake, retry_handlers=[AsyncServerErrorRetryHandler(interval_calculator=FAST)])
    assert (await retrying.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [500, 503, 200]
    assert len(fake.messages("C1")) == 1


async def test_dropped_connection_surfaces_or_is_retried(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", drop_connection=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert fake.messages("C1") == []
    assert fake.calls[-1].status == 0

    fake.fail_next("chat.postMessage", drop_connection=True)
    retrying = client(
        fake, retry_handlers=[AsyncConnectionErrorRetryHandler(interval_calculator=FAST)]
    )
    assert (await retrying.chat_postMessage(channel="C1", text="x"))["ok"]
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_default_client_already_retries_one_dropped_connection(fake: FakeSlack) -> None:
    """slack_sdk's default retry_handlers retry a connection error once; two drops get through."""
    fake.fail_next("chat.postMessage", drop_connection=True)
    default = AsyncWebClient(token=TOKEN, base_url=fake.api_url)
    assert (await default.chat_postMessage(channel="C1", text="hi"))["ok"]
    fake.fail_next("chat.postMessage", drop_connection=True, times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await default.chat_postMessage(channel="C1", text="hi")


async def test_lost_answer_after_the_post_took_effect(fake: FakeSlack) -> None:
    """The case that makes blind retries post twice: Slack posted, the answer never came."""
    fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert [m.text for m in fake.messages("C1")] == ["hi"]


async def test_slack_errors_scoped_to_one_channel(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", error="not_in_channel", channel="C1", times=2)
    slack = client(fake)
    assert (await slack.chat_postMessage(channel="C2", text="other channel"))["ok"]
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await slack.chat_postMessage(channel="C1", text="hi")
        assert err.value.response.status_code == 200
        assert err.value.response["error"] == "not_in_channel"
    assert (await slack.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert [m.text for m in fake.messages("C2")] == ["other channel"]
    assert [m.text for m in fake.messages("C1")] == ["hi"]


async def test_delay_only_slows_the_answer(fake: FakeSlack) -> None:
    fake.fail_next("auth.test", delay=0.2)
    started = time.monotonic()
    assert (await client(fake).auth_test())["ok"]
    assert time.monotonic() - started >= 0.2


async def test_per_channel_rate_limit() -> None:
    clock = Clock()
    async with FakeSlack(token=TOKEN, rate_limit_per_channel=1.0, clock=clock) as fake:
        slack = client(fake)
        await slack.chat_postMessage(channel="C1", text="1")
        with pytest.raises(SlackApiError) as err:
            await slack.chat_postMessage(channel="C1", text="2")
        assert err.value.response.status_code == 429
        assert err.value.response.headers["Retry-After"] == "1"
        await slack.chat_postMessage(channel="C2", text="other channel is not limited")
        clock.now += 1.0
        await slack.chat_postMessage(channel="C1", text="3")
        assert [m.text for m in fake.messages("C1")] == ["1", "3"]


# -- response_url ----------------------------------------------------------------------------------


async def test_response_url_takes_five_posts(fake: FakeSlack) -> None:
    url = fake.response_url("cmd1")
    hook = AsyncWebhookClient(url)
    for i in range(5):
        answer = await hook.send(text=f"answer {i}", response_type="ephemeral")
        assert answer.status_code == 200
    sixth = await hook.send(text="one too many")
    assert sixth.status_code == 404 and "used_url" in sixth.body
    posts = fake.responses("cmd1")
    assert [p.text for p in posts] == [f"answer {i}" for i in range(5)]
    assert posts[0].response_type == "ephemeral"


async def test_response_url_expires_after_30_minutes() -> None:
    clock = Clock()
    async with FakeSlack(token=TOKEN, clock=clock) as fake:
        hook = AsyncWebhookClient(fake.response_url("cmd"))
        assert (await hook.send(text="early", replace_original=True)).status_code == 200
        clock.now += 30 * 60 + 1
        late = await hook.send(text="late")
        assert late.status_code == 404 and "expired_url" in late.body
        [post] = fake.responses("cmd")
        assert post.replace_original is True


# -- waiting and printing --------------------------------------------------------------------------


async def test_wait_for_returns_the_value_once_true(fake: FakeSlack) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client(fake).chat_postMessage(channel="C1", text="eventually")

    task = asyncio.create_task(later())
    msgs = await fake.wait_for(lambda f: f.messages("C1"), timeout=2)
    assert msgs[0].text == "eventually"
    await task
    with pytest.raises(TimeoutError, match="chat.postMessage"):
        await fake.wait_for(lambda f: f.messages("C2"), timeout=0.1)


def test_blocks_render_to_plain_lines() -> None:
    lines = blocks_to_lines(
        [
            {"type": "header", "text": {"type": "plain_text", "text": "EON run &lt;42&gt;"}},
            {"type": "divider"},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "See <https://studio.example/1|Studio>"},
                "fields": [
                    {"type": "mrkdwn", "text": "*Accuracy*\n91.2%"},
                    {"type": "mrkdwn", "text": "*Latency*\n3 ms"},
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "a &amp; b"}]},
        ]
    )
    assert lines[0] == "EON run <42>"
    assert set(lines[1]) == {"─"}
    assert lines[2] == "See Studio (https://studio.example/1)"
    assert "*Accuracy* 91.2%" in lines[3] and "*Latency* 3 ms" in lines[3]
    assert lines[4] == "a & b"


async def test_terminal_printer_shows_card_reply_and_update() -> None:
    out = io.StringIO()
    async with FakeSlack(token=TOKEN, on_message=TerminalPrinter(out)) as fake:
        slack = client(fake)
        header = {"type": "header", "text": {"type": "plain_text", "text": "EON Tuner: project 42"}}
        card = await slack.chat_postMessage(
            channel="C1", text="card", blocks=[header, section("1 / 30 trials")], metadata=META
        )
        await slack.chat_postMessage(
            channel="C1", text="Trial *t1* failed: bad &lt;input&gt;", thread_ts=card["ts"]
        )
        await slack.chat_update(
            channel="C1", ts=card["ts"], text="card", blocks=[header, section("2 / 30 trials")]
        )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("┌─ #C1 ─")  # no internal event type
    assert lines[1:4] == ["│ EON Tuner: project 42", "│ 1 / 30 trials", "└─"]
    assert lines[4] == "    ↳ Trial t1 failed: bad <input>"  # not a terminal: no asterisks
    # Only what changed: the header is not printed again.
    assert lines[5:] == ["(card updated) 2 / 30 trials"]


def test_terminal_printer_marks_broadcast_and_multiline_replies() -> None:
    out = io.StringIO()
    printer = TerminalPrinter(out)
    printer(Message("C1", "2.0", text="line one\nline two", thread_ts="1.0"), "post")
    printer(Message("C1", "3.0", text="shout", thread_ts="1.0", reply_broadcast=True), "post")
    same = Message("C1", "1.0", text="card")
    printer(Message("C1", "1.0", text="card", edits=(same,)), "update")
    assert out.getvalue().splitlines() == [
        "    ↳ line one",
        "      line two",
        "    ↳ (also sent to the channel) shout",
    ]  # an edit that changes nothing visible is not shown


async def test_conversations_open_gives_one_dm_per_person(fake: FakeSlack) -> None:
    """`conversations.open` with one user: the same `D…` id each time, where messages go."""
    slack = client(fake)
    first = await slack.conversations_open(users="U0ADA")
    again = await slack.conversations_open(users="U0ADA")
    dm = first["channel"]["id"]
    assert dm.startswith("D") and again["channel"]["id"] == dm
    assert (await slack.conversations_open(users="U0BOB"))["channel"]["id"] != dm
    await slack.chat_postMessage(channel=dm, text="hello")
    assert [m.text for m in fake.messages(dm)] == ["hello"]
    for users in ("", "U0ADA,U0BOB", "C0CHANNEL"):
        with pytest.raises(SlackApiError):
            await slack.conversations_open(users=users)
