"""FakeSlack's file uploads, driven by slack_sdk's own `files_upload_v2` (the three-step flow)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fakeslack import FakeSlack

TOKEN = "xoxb-test"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as server:
        yield server


def client(fake: FakeSlack, token: str = TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.api_url, retry_handlers=[])


async def test_upload_v2_into_a_thread(fake: FakeSlack) -> None:
    slack = client(fake)
    card = await slack.chat_postMessage(channel="C1", text="the card")
    answer = await slack.files_upload_v2(
        channel="C1",
        thread_ts=card["ts"],
        file=PNG,
        filename="chart.png",
        title="The run",
        alt_txt="a chart",
        initial_comment="📈 here it is",
    )
    assert answer["file"]["title"] == "The run"
    assert [c.method for c in fake.calls[1:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    (reply,) = fake.replies("C1", card["ts"])
    assert reply.text == "📈 here it is"
    (shared,) = reply.files
    assert shared["name"] == "chart.png" and shared["mimetype"] == "image/png"
    assert fake.file(shared["id"]).data == PNG
    assert "[file: The run]" in reply.plain_text
    page = await slack.conversations_replies(channel="C1", ts=card["ts"])
    assert page["messages"][1]["files"][0]["id"] == shared["id"]


async def test_upload_without_a_token_is_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client(fake, token="xoxb-wrong").files_upload_v2(
            channel="C1", file=PNG, filename="c.png"
        )
    assert caught.value.response["error"] == "invalid_auth"
    assert fake.messages("C1") == []


async def test_a_file_is_shared_once_and_only_once_uploaded(fake: FakeSlack) -> None:
    slack = client(fake)
    step1 = await slack.files_getUploadURLExternal(filename="c.png", length=len(PNG))
    complete = {"files": [{"id": step1["file_id"], "title": "c"}], "channel_id": "C1"}
    with pytest.raises(SlackApiError, match="file_not_found"):
        await slack.files_completeUploadExternal(**complete)
    async with aiohttp.ClientSession() as http:
        short = await http.post(step1["upload_url"], data=PNG[:10])
        assert short.status == 200
    with pytest.raises(SlackApiError, match="file_upload_size_mismatch"):
        await slack.files_completeUploadExternal(**complete)
    async with aiohttp.ClientSession() as http:
        await http.post(step1["upload_url"], data=PNG)
        unknown = await http.post(f"{fake.url}/upload/F404", data=PNG)
        assert unknown.status == 404
    await slack.files_completeUploadExternal(**complete)
    with pytest.raises(SlackApiError, match="file_already_completed"):
        await slack.files_completeUploadExternal(**complete)
    assert len(fake.messages("C1")) == 1


async def test_a_broken_channel_refuses_the_share(fake: FakeSlack) -> None:
    fake.set_channel_state("C1", "not_in_channel")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        await client(fake).files_upload_v2(channel="C1", file=PNG, filename="c.png")


async def test_a_failed_byte_upload_fails_the_call(fake: FakeSlack) -> None:
    fake.fail_next("upload", status=500)
    with pytest.raises(SlackRequestError, match="status: 500"):
        await client(fake).files_upload_v2(channel="C1", file=PNG, filename="c.png")
    assert fake.messages("C1") == []
    assert json.dumps([c.method for c in fake.calls]).count("completeUploadExternal") == 0
