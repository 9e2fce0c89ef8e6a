"""Slack rendering (pure): what each event says, the metadata it carries, that untrusted text
stays literal, and that no input can push a message past Slack's limits (checked here, and
once against `FakeSlack`, which checks them as Slack's Web API does)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import Event, EventKind
from bot.core.summary import Counts, RunSummary, TrialSummary, Workers
from bot.sandbox.fakeslack import FakeSlack
from bot.slack.render import (
    LIMITS,
    Message,
    clip,
    escape,
    render_card,
    render_event,
    render_retried_failure,
    render_run_started_card,
    render_status,
    short_ids,
    top_text,
)

KB, MB = 1024, 1024 * 1024
HOSTILE = ["<!channel>", "<@U123>", "<http://x|y>", "a & b", "<!here|here> &amp; <#C1>"]
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def event(kind: EventKind, about: str | None = None, /, **payload: Any) -> Event:
    """An event of run 11 (tuner job 10) in project 42, about trial `about` if given."""
    return Event(
        kind=kind,
        key=f"42:11:10:{kind}:{about}",
        project_id="42",
        run_id="11",
        tuner_job_id="10",
        coordinator_job_id="11",
        trial_id=about,
        payload=payload,
    )


def trial(name: str = "mfe-conv1d", accuracy: float | None = 0.913, **numbers: Any) -> TrialSummary:
    values: dict[str, Any] = {"latency_ms": 12, "ram_bytes": 38_400, "rom_bytes": 122_880}
    return TrialSummary(
        id=name, name=name, status="completed", accuracy=accuracy, **(values | numbers)
    )


def summary(
    *,
    top: list[TrialSummary] | None = None,
    completed: int | None = None,
    **fields: Any,
) -> RunSummary:
    top = top if top is not None else [trial()]
    values: dict[str, Any] = {
        "project_id": "42",
        "run_id": "11",
        "tuner_job_id": "10",
        "coordinator_job_id": "11",
        "status": "running",
        "running": True,
        "finished": False,
        "outcome": None,
        "counts": Counts(completed=len(top) if completed is None else completed, pending=3),
        "planned_trials": 20,
        "workers": Workers(busy=2, ready=1),
        "best": top[0] if top else None,
        "top": top,
        "precision": "int8",
        "target_device": "cortex-m4f-80mhz",
        "target_latency_ms": 100,
        "elapsed_s": 3900,
        "training_s": 6600,
        "max_total_training_time_s": 7200,
    }
    return RunSummary(**(values | fields))


def texts(value: Any) -> list[str]:
    """Every `text` string in a Block Kit structure (text objects, headers, buttons)."""
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def assert_within_limits(message: Message) -> None:
    assert len(message.text) <= LIMITS.fallback_text
    assert 0 < len(message.blocks) <= LIMITS.blocks
    for block in message.blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= LIMITS.header_text
        elif kind == "section":
            assert len(block["text"]["text"]) <= LIMITS.section_text
            fields = block.get("fields", [])
            assert len(fields) <= LIMITS.fields
            assert all(len(f["text"]) <= LIMITS.field_text for f in fields)
        elif kind == "context":
            assert 0 < len(block["elements"]) <= LIMITS.context_elements
            assert all(len(e["text"]) <= LIMITS.context_text for e in block["elements"])
        elif kind == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= LIMITS.button_text
                assert len(element.get("url", "")) <= LIMITS.button_url
        else:
            assert kind == "divider"


def assert_literal(message: Message) -> None:
    """No text can mention, link or format through `<…>`, and every `&` is an entity."""
    for text in [message.text, *texts(message.blocks)]:
        assert "<" not in text and ">" not in text, text
        assert not ENTITY.search(text), text


# --- events -----------------------------------------------------------------------------------

COMPLETED = (
    "✅ *mfe-conv1d* completed — accuracy 91.3% · latency 12 ms · RAM 37.5 KB · ROM 120.0 KB"
)


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        pytest.param(
            event(
                EventKind.TRIAL_COMPLETED,
                "t1",
                trial_id="t1",
                trial_name="mfe-conv1d",
                accuracy=0.913,
                latency_ms=12,
                ram_bytes=38_400,
                rom_bytes=122_880,
            ),
            COMPLETED,
            id="completed",
        ),
        pytest.param(
            event(
                EventKind.TRIAL_COMPLETED,
                "t1",
                trial_id="t1",
                trial_name="big",
                accuracy=1.0,
                latency_ms=0.84,
                ram_bytes=1_258_291,
                rom_bytes=512,
                over_latency=True,
                over_rom=True,
            ),
            "✅ *big* completed — accuracy 100.0% · latency 0.8 ms · RAM 1.2 MB · ROM 512 B"
            " · ⚠ over latency target · ⚠ over ROM",
            id="completed-over-targets",
        ),
        pytest.param(
            event(EventKind.TRIAL_COMPLETED, "t2", trial_id="t2", trial_name="no-numbers"),
            "✅ *no-numbers* completed — accuracy — · latency — · RAM — · ROM —",
            id="completed-unknown-numbers",
        ),
        pytest.param(
            event(EventKind.TRIAL_FAILED, "t3", trial_id="t3", trial_name="lstm", retries=0),
            "❌ *lstm* failed",
            id="failed",
        ),
        pytest.param(
            event(EventKind.TRIAL_FAILED, "t3", trial_id="t3", trial_name="lstm", retries=2),
            "❌ *lstm* failed (after 2 retries)",
            id="failed-retried",
        ),
        pytest.param(
            event(EventKind.TIME_LIMIT_EXCEEDED, can_extend_search=True),
            "⏱ The EON Tuner run in project 42 reached its time limit."
            " The search can be extended with the button below.",
            id="time-limit-extendable",
        ),
        pytest.param(
            event(EventKind.TIME_LIMIT_EXCEEDED, can_extend_search=False),
            "⏱ The EON Tuner run in project 42 reached its time limit."
            " The search cannot be extended.",
            id="time-limit-final",
        ),
        pytest.param(
            event(
                EventKind.RUN_STARTED,
                completed_trials=3,
                failed_trials=1,
                running_trials=2,
                pending_trials=14,
            ),
            "🚀 EON Tuner run found in project 42 — 3 completed · 1 failed · 2 running"
            " · 14 pending",
            id="run-started",
        ),
        pytest.param(
            event(
                EventKind.JOB_FINISHED,
                outcome="completed",
                completed_trials=18,
                failed_trials=2,
                running_trials=0,
                pending_trials=0,
                best_trial_id="t9",
                best_trial_name="mfe-conv1d",
                best_accuracy=0.913,
                best_latency_ms=12,
                best_ram_bytes=38_400,
                best_rom_bytes=122_880,
            ),
            "🏁 The EON Tuner run in project 42 finished — 18 completed · 2 failed · 0 running"
            " · 0 pending\nBest: *mfe-conv1d* — accuracy 91.3% · latency 12 ms · RAM 37.5 KB"
            " · ROM 120.0 KB",
            id="finished",
        ),
        pytest.param(
            event(
                EventKind.JOB_FINISHED,
                outcome="failed",
                job_error="Out of memory",
                completed_trials=1,
                failed_trials=0,
            ),
            "💥 The EON Tuner run in project 42 failed: Out of memory — 1 completed · 0 failed"
            " · 0 running · 0 pending",
            id="finished-failed",
        ),
        pytest.param(
            event(EventKind.API_UNREACHABLE, error="HTTP 503"),
            "🔌 Edge Impulse has not answered for project 42: HTTP 503."
            " Still trying; a message follows when it is back.",
            id="unreachable",
        ),
        pytest.param(
            event(EventKind.API_RECOVERED, error="HTTP 503"),
            "🔌 Edge Impulse answers again for project 42; updates resume.",
            id="recovered",
        ),
    ],
)
def test_event_says_what_happened(ev: Event, expected: str) -> None:
    message = render_event(ev)
    assert message.text == expected
    assert message.blocks[0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": expected, "verbatim": True},
    }
    assert message.blocks[-1]["elements"][0]["url"] == (
        "https://studio.edgeimpulse.com/studio/42/tuner/11"
    )
    assert_within_limits(message)


@pytest.mark.parametrize("kind", [k for k in EventKind if k is not EventKind.DIGEST])
def test_every_event_carries_its_metadata_and_key(kind: EventKind) -> None:
    """(A digest is about no one run: its metadata is its own, tests/slack/test_digest.py.)"""
    ev = event(kind, "t1", trial_id="t1", trial_name="x <y>", accuracy=0.5)
    message = render_event(ev)
    assert message.metadata == {
        "event_type": kind.value,
        "event_payload": {
            "project_id": "42",
            "tuner_job_id": "10",
            "trial_id": "t1",
            "trial_name": "x <y>",  # metadata is data, not text: kept as Edge Impulse sent it
            "accuracy": 0.5,
            "event_key": ev.key,
        },
    }


def test_event_without_run_has_no_studio_button() -> None:
    ev = Event(kind=EventKind.API_UNREACHABLE, key="k", project_id="42", payload={"error": "x"})
    kinds = [block["type"] for block in render_event(ev).blocks]
    assert kinds == ["section", "context"]


# --- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<http://x|y>", "&lt;http://x|y&gt;"),
        ("a & b", "a &amp; b"),
        ("&amp;", "&amp;amp;"),
        ("plain", "plain"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


@pytest.mark.parametrize("hostile", HOSTILE)
def test_untrusted_text_stays_literal_everywhere(hostile: str) -> None:
    evil = trial(name=hostile)
    run = summary(
        top=[evil],
        name=hostile,
        target_device=hostile,
        status=hostile,
        running=False,
    )
    failed_run = summary(finished=True, outcome="failed", job_error=hostile, name=hostile)
    messages = [
        render_card(run),
        render_card(failed_run),
        render_status([run, failed_run]),
        render_event(event(EventKind.TRIAL_COMPLETED, hostile, trial_name=hostile)),
        render_event(event(EventKind.TRIAL_FAILED, hostile, trial_name=hostile)),
        render_event(event(EventKind.JOB_FINISHED, outcome="failed", job_error=hostile)),
        render_event(event(EventKind.JOB_FINISHED, best_trial_name=hostile)),
        render_event(event(EventKind.API_UNREACHABLE, error=hostile)),
    ]
    for message in messages:
        assert_literal(message)
        assert escape(hostile) in message.text
        assert_within_limits(message)


@pytest.mark.parametrize(
    ("text", "limit", "clipped"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("abcdefghijk", 5, "abcd…"),
        ("a&amp;b", 4, "a…"),  # would keep "a&a": the entity moves out whole
        ("a&amp;b", 6, "a…"),  # "a&amp" is cut mid-entity too
        ("a&amp;bc", 7, "a&amp;…"),
        ("&lt;&lt;&lt;", 6, "&lt;…"),
        ("xy", 1, "…"),
    ],
)
def test_clip_never_cuts_an_entity(text: str, limit: int, clipped: str) -> None:
    assert clip(text, limit) == clipped


@given(st.text(), st.integers(min_value=1, max_value=60))
def test_clip_of_escaped_text_is_bounded_and_whole(raw: str, limit: int) -> None:
    clipped = clip(escape(raw), limit)
    assert len(clipped) <= limit
    assert not ENTITY.search(clipped)
    assert "<" not in clipped and ">" not in clipped


# --- limits -----------------------------------------------------------------------------------

huge_text = st.one_of(
    st.text(max_size=50),
    st.text(alphabet="<>&@!|", min_size=100, max_size=4000),
    st.text(min_size=1000, max_size=12_000),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=huge_text, error=huge_text, trial_name=huge_text, n_top=st.integers(0, 12))
def test_no_input_exceeds_slack_limits(name: str, error: str, trial_name: str, n_top: int) -> None:
    top = [trial(name=f"{trial_name}{i}") for i in range(n_top)]
    run = summary(top=top, name=name, job_error=error, target_device=name, status=error)
    finished = summary(top=top, finished=True, outcome="failed", job_error=error, name=name)
    ev_payloads: list[dict[str, Any]] = [
        {"trial_name": trial_name, "accuracy": 0.5, "over_ram": True},
        {"job_error": error, "outcome": "failed", "best_trial_name": trial_name},
        {"error": error, "can_extend_search": True},
    ]
    messages = [
        render_card(run),
        render_card(finished),
        render_status([run, finished] * 20, not_polled=[name] * 30),
        render_run_started_card(event(EventKind.RUN_STARTED), run),
        *(render_event(event(kind, trial_name, **p)) for kind in EventKind for p in ev_payloads),
    ]
    for message in messages:
        assert_within_limits(message)
        assert_literal(message)


@pytest.mark.parametrize("n_trials", [0, 1, 10_000])
def test_card_fits_for_any_number_of_trials(n_trials: int) -> None:
    top = [
        trial(name=f"trial-{i:05d} <!channel> & " * 8, accuracy=i / 10_000) for i in range(n_trials)
    ]
    run = summary(top=top, completed=n_trials, planned_trials=n_trials)
    for message in (render_card(run), render_status([run] * 60)):
        assert_within_limits(message)
        assert_literal(message)
        assert len(message.text) <= 4000  # chat.update's cap, since the card is edited in place


# --- card and status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_top", "completed", "more"),
    [
        (0, 0, None),
        (1, 1, None),
        (10, 10, None),
        (10, 14, "…and 4 more completed trials"),
        (10, 11, "…and 1 more completed trial"),
        (12, 12, "…and 2 more completed trials"),
    ],
)
def test_card_lists_the_top_trials_and_how_many_more(
    n_top: int, completed: int, more: str | None
) -> None:
    top = [trial(name=f"t{i}") for i in range(n_top)]
    card = render_card(summary(top=top, completed=completed))
    contexts = [t for b in card.blocks if b["type"] == "context" for t in texts(b)]
    assert contexts == ([more] if more else [])
    listed = [t for b in card.blocks for t in texts(b) if t.startswith("*Top trials*")]
    if n_top:
        assert listed[0].count("\n") == min(n_top, 10)
        assert "1. *t0* — 91.3% · 12 ms · RAM 37.5 KB · ROM 120.0 KB" in listed[0]
    else:
        assert listed == []


def test_card_content() -> None:
    card = render_card(summary(name="Keyword run 3", top=[trial(), trial("slow")], completed=2))
    assert card.metadata is None
    assert card.blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "EON Tuner · Keyword run 3 · project 42",
            "emoji": True,
        },
    }
    section = card.blocks[1]
    assert section["text"]["text"] == "🔄 *Running*\n`▓░░░░░░░░░ 10%` · 2 of 20 trials"
    fields = [f["text"] for f in section["fields"]]
    assert fields == [
        "*Completed*\n2",
        "*Failed*\n0",
        "*Running*\n0",
        "*Pending*\n3",
        "*Workers*\n2 busy · 1 ready · 0 starting",
        "*Training time (all workers)*\n1h 50m of 2h 00m",
        "*Wall time*\n1h 05m",
        "*Target*\ncortex-m4f-80mhz · ≤ 100 ms · int8",
    ]
    assert card.blocks[2]["text"]["text"] == (
        "*Best so far:* *mfe-conv1d* — accuracy 91.3% · latency 12 ms · RAM 37.5 KB · ROM 120.0 KB"
    )
    button = card.blocks[-1]["elements"][0]
    assert (button["text"]["text"], button["url"]) == (
        "Open in Studio",
        "https://studio.edgeimpulse.com/studio/42/tuner/11",
    )
    assert card.text.startswith("EON Tuner · Keyword run 3 · project 42\n🔄 *Running*")


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"finished": True, "outcome": "completed"}, "🏁 *Finished*"),
        ({"finished": True, "outcome": "failed", "job_error": "OOM"}, "💥 *Failed*: OOM"),
        (
            {"time_limit_exceeded": True, "can_extend_search": True},
            "⏱ *Time limit reached*. The search can be extended in Studio.",
        ),
        (
            {"time_limit_exceeded": True, "can_extend_search": False},
            "⏱ *Time limit reached*. The search cannot be extended.",
        ),
        ({"time_limit_exceeded": True}, "⏱ *Time limit reached*"),
        ({"running": False, "status": "creating"}, "⏳ *Creating*"),
        ({"running": None, "status": None}, "⏳ *—*"),
    ],
)
def test_card_state(fields: dict[str, Any], state: str) -> None:
    card = render_card(summary(**fields))
    assert card.blocks[1]["text"]["text"].split("\n")[0] == state


def test_card_without_run_id_links_the_projects_tuner_page_and_says_so() -> None:
    card = render_card(
        summary(run_id=None, tuner_job_id=None, coordinator_job_id=None, top=[], completed=0)
    )
    assert [b["type"] for b in card.blocks] == ["header", "section", "section", "actions"]
    button = card.blocks[-1]["elements"][0]
    assert button["url"] == "https://studio.edgeimpulse.com/studio/42/tuner"
    assert card.blocks[0]["text"]["text"] == "EON Tuner · run ? · project 42"
    assert "no trials yet" not in card.text  # planned trials are known
    empty = render_card(summary(top=[], completed=0, planned_trials=None, counts=Counts()))
    assert "no trials yet" in empty.text


def test_run_started_card_is_the_card_with_the_event_metadata() -> None:
    ev = event(EventKind.RUN_STARTED, completed_trials=1)
    run = summary()
    message = render_run_started_card(ev, run)
    card = render_card(run)
    assert (message.text, message.blocks) == (card.text, card.blocks)
    assert message.metadata is not None
    assert message.metadata["event_type"] == "eon_run_started"
    assert message.metadata["event_payload"]["event_key"] == ev.key
    assert message.metadata["event_payload"]["completed_trials"] == 1
    assert render_run_started_card(ev, None) == render_event(ev)


def test_status_shows_each_project_and_those_not_polled() -> None:
    first = summary(name="first")
    second = summary(project_id="43", name="second", finished=True, outcome="completed")
    status = render_status([first, second], not_polled=["44"])
    sections = [b["text"]["text"] for b in status.blocks if b["type"] == "section"]
    assert sections[0].startswith('*EON Tuner run "first" · project 42*\nRun 11 · tuner job 10')
    assert "State: finished" in sections[1]
    assert "Studio:" not in status.text  # the button says it
    assert texts(status.blocks[-1]) == ["Not polled yet: project 44"]
    assert status.metadata is None


def test_status_of_many_projects_says_how_many_more() -> None:
    status = render_status([summary(project_id=str(i)) for i in range(40)])
    assert_within_limits(status)
    assert texts(status.blocks[-1]) == ["…and 25 more projects"]


async def test_fake_slack_accepts_every_rendered_message() -> None:
    """The limits as Slack's Web API checks them (posted and edited in place), hostile input."""
    hostile = "<!channel> & " * 500
    messages = [
        render_event(
            event(
                kind, "t1", trial_name=hostile, error=hostile, job_error=hostile, outcome="failed"
            )
        )
        for kind in EventKind
    ]
    top = [trial(name=hostile) for _ in range(12)]
    messages += [
        render_card(summary(top=top, completed=10_000, name=hostile)),
        render_status([summary(name=hostile)] * 40, not_polled=[hostile]),
        render_run_started_card(event(EventKind.RUN_STARTED, completed_trials=1), summary()),
    ]
    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        for m in messages:
            posted = await client.chat_postMessage(
                channel="C1", text=m.text, blocks=m.blocks, metadata=m.metadata
            )
            await client.chat_update(channel="C1", ts=posted["ts"], text=m.text, blocks=m.blocks)
        assert len(fake.top_level("C1")) == len(messages)


def test_a_refused_key_says_what_to_fix_not_to_wait() -> None:
    detail = "Edge Impulse refused the API key (HTTP 401). Check EI_API_KEY_7 or EI_API_KEY."
    refused = render_event(event(EventKind.API_UNREACHABLE, error=detail, refused=True))
    outage = render_event(event(EventKind.API_UNREACHABLE, error="timed out."))
    assert "refused the API key" in refused.text and "EI_API_KEY_7" in refused.text
    assert "has not answered" not in refused.text
    assert "has not answered" in outage.text
    assert ".." not in refused.text and ".." not in outage.text


def test_a_missing_or_unreadable_key_is_not_said_to_be_refused_by_edge_impulse() -> None:
    detail = "the Edge Impulse key stored for project 42 cannot be decrypted: …; /eon key 42"
    told = render_event(event(EventKind.API_UNREACHABLE, error=detail, refused=True, no_key=True))
    assert told.text.startswith("🔑 eon-bot has no usable Edge Impulse key for project 42: ")
    assert "refused" not in told.text and "/eon key 42" in told.text


def test_top_trials_with_the_same_name_get_a_short_id() -> None:
    twins = [
        trial("mfe-conv1d", 0.9).model_copy(update={"id": "39e9fb013b0e"}),
        trial("mfe-conv1d", 0.8).model_copy(update={"id": "39e9fb7c0001"}),
        trial("mfcc-dense", 0.7).model_copy(update={"id": "aaaaaaaaaaaa"}),
    ]
    top, _ = top_text(summary(top=twins))
    lines = top.splitlines()
    assert lines[0].startswith("1. *mfe-conv1d* `39e9fb0` — ")  # 6 characters would not do
    assert lines[1].startswith("2. *mfe-conv1d* `39e9fb7` — ")
    assert lines[2].startswith("3. *mfcc-dense* — ")  # a unique name needs no id
    assert short_ids([trial("x").model_copy(update={"id": "<!here>abc"})] * 1) == {}
    hostile = [trial("n").model_copy(update={"id": i}) for i in ("<!here>1", "<!here>2")]
    assert "<!here>" not in top_text(summary(top=hostile))[0]


def test_completion_of_an_sdk_shaped_trial_says_what_is_unknown() -> None:
    ev = event(
        EventKind.TRIAL_COMPLETED,
        "t1",
        trial_name="mfe-conv1d",
        accuracy=0.91,
        ram_bytes=40_000,
        rom_bytes=120_000,
        unchecked=["latency"],
    )
    text = render_event(ev).text
    assert text == (
        "✅ *mfe-conv1d* completed — accuracy 91.0% · latency — · RAM 39.1 KB · ROM 117.2 KB"
        " · ⚠ latency unknown"
    )


def test_object_detection_completion_shows_its_score_labelled() -> None:
    ev = event(
        EventKind.TRIAL_COMPLETED, "t1", trial_name="fomo", score=0.734, score_name="mean F1"
    )
    assert "completed — mean F1 0.73 · latency —" in render_event(ev).text
    card = render_card(summary(top=[trial("fomo", None, score=0.51, score_name="mAP")]))
    assert "*fomo* — mAP 0.51 · 12 ms" in card.text + str(card.blocks)


def test_a_retried_trial_is_told_truthfully() -> None:
    failure = event(
        EventKind.TRIAL_FAILED, "t1", trial_name="mfe", retries=0, retry_may_follow=True
    )
    assert render_event(failure).text == "❌ *mfe* failed — a retry may follow"
    seen_retried = event(EventKind.TRIAL_FAILED, "t1", trial_name="mfe", retries=0, retried=True)
    assert render_event(seen_retried).text == "❌ *mfe* failed → retried"
    assert render_retried_failure(seen_retried).text == "❌ *mfe* failed → retried → ✅ completed"
    final = event(EventKind.TRIAL_FAILED, "t1", trial_name="mfe", retries=1)
    assert render_event(final).text == "❌ *mfe* failed (after 1 retry)"
    edited = render_retried_failure(failure)
    assert edited.text == "❌ *mfe* failed → retried → ✅ completed"
    assert edited.metadata == render_event(failure).metadata  # still that failure's message
    done = event(EventKind.TRIAL_COMPLETED, "t1", trial_name="mfe", retries=2, accuracy=0.9)
    assert render_event(done).text.startswith("✅ *mfe* completed after 2 retries — accuracy 90.0%")


def test_an_extended_run_card_has_another_title_and_says_what_it_continues() -> None:
    plain = render_card(summary(name="run 3"))
    extended = summary(name="run 3", continuation_job_id="900")
    link = "https://eon-test.slack.com/archives/C1/p1700000000000100"
    card = render_card(extended, link)
    assert card.blocks[0]["text"]["text"] == "EON Tuner · run 3 (extended search) · project 42"
    assert card.blocks[0]["text"]["text"] != plain.blocks[0]["text"]["text"]
    context = card.blocks[1]["elements"][0]["text"]
    assert context == f"↪ Extends an earlier run's search · <{link}|earlier card>"
    # No card of the earlier run here, or a link that is not one: named, not linked.
    assert "↪ Extends an earlier run's search\n" in render_card(extended).text
    for bad in ("javascript:alert(1)", "https://x|<!channel>", "https://a b"):
        assert "<" not in render_card(extended, bad).blocks[1]["elements"][0]["text"]
    assert "Continues" not in plain.text


@pytest.mark.parametrize(
    ("name", "card", "status"),
    [
        ("EON Tuner run 4", "EON Tuner run 4 · project 42", "EON Tuner run 4 · project 42"),
        (
            "Keyword run 3",
            "EON Tuner · Keyword run 3 · project 42",
            'EON Tuner run "Keyword run 3"',
        ),
    ],
)
def test_a_run_named_eon_tuner_is_not_titled_eon_tuner_twice(
    name: str, card: str, status: str
) -> None:
    shown = summary(name=name)
    assert render_card(shown).text.splitlines()[0] == card
    assert status in render_status([shown]).text


def test_workers_not_yet_up_are_starting_on_the_card_and_in_status() -> None:
    shown = summary(workers=Workers(busy=1, ready=0, pending=7))
    for message in (render_card(shown), render_status([shown])):
        text = " ".join([message.text, *texts(message.blocks)])
        assert "7 starting" in text and "7 pending" not in text
