"""`/eon chart` and `/eon top`: parsed, answered from the stored snapshot (the real store),
and rendered as Block Kit that slack_sdk's own models accept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import select

from bot.core.chart import ChartData, chart_of
from bot.core.diff import diff
from bot.core.events import Event
from bot.core.outage import Outage
from bot.core.summary import TrialSummary
from bot.settings import Settings
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import answer
from bot.slack.listeners.eon_parse import Chart, Top, UsageError, parse
from bot.slack.listeners.eon_runs import render_top
from bot.slack.render import LIMITS
from bot.store import Store
from bot.store.schema import outbox
from tests.factories import state, trial

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("chart", Chart()),
        ("CHART 42", Chart("42")),
        ("top", Top()),
        ("top 42", Top("42", 5)),
        ("top 042 25", Top("42", 25)),
    ],
)
def test_parse(text: str, parsed: object) -> None:
    assert parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("top 42 0", "N must be a whole number from 1 to 25, not “0”"),
        ("top 42 26", "not “26”"),
        ("top 42 9" + "9" * 5000, "N must be a whole number"),
        ("top 42 many", "not “many”"),
        ("chart 42 43", "Too many words, starting at “43”"),
        ("chart abc", "“abc” is not a project id"),
    ],
)
def test_parse_mistakes(text: str, says: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, UsageError) and says in parsed.message


def summary(trial_id: str, accuracy: float, **more: Any) -> TrialSummary:
    fields = {"name": f"trial {trial_id}", "latency_ms": 10.0, "ram_bytes": 1024} | more
    return TrialSummary(id=trial_id, status="completed", accuracy=accuracy, **fields)


def test_top_table_is_valid_block_kit_best_first_and_escaped() -> None:
    trials = [
        summary("aaaaaaaaaaaa", 0.80),
        summary("bbbbbbbbbbbb", 0.95, over_latency=True, name="<!channel> & co"),
        summary("cccccccccccc", 0.90, unchecked=("ram",)),
        TrialSummary(id="dddd", name="failed one", status="failed"),
    ]
    message = render_top("42", "my run", ChartData(project_id="42", trials=trials), 5)
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()  # slack_sdk's own checks of Slack's limits
    table = message.blocks[1]["text"]["text"]
    rows = table.strip("`").splitlines()
    assert rows[0].split()[:3] == ["#", "name", "id"]
    # The run's one ranking: the fit first, then over no known limit, then over one.
    assert [row.split()[1] for row in rows[1:]] == ["trial", "trial", "&lt;!channel&gt;"]
    assert rows[1].endswith("yes") and rows[2].endswith("?") and rows[3].endswith("no")
    assert "bbbbbbbb " in rows[3] and "95.0%" in rows[3]
    assert "<!channel>" not in message.text
    assert "Top 3 of 3 completed trials" in message.blocks[0]["text"]["text"]


def test_top_stays_within_slacks_limits_at_its_largest() -> None:
    trials = [summary(f"{i:04d}" * 50, 0.5 + i / 100, name="x" * 500) for i in range(40)]
    message = render_top("9" * 19, "r" * 500, ChartData(project_id="1", trials=trials), 25)
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
    assert len(message.text) <= LIMITS.fallback_text
    assert message.blocks[1]["text"]["text"].count("\n") == 25  # a header and 25 rows


class Rig:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.woken = 0
        self.deps = Deps(
            store=store,
            settings=Settings.given(),
            start_watching=self._nothing,
            stop_watching=self._nothing,
            check_project=self._no_problem,
            wake_delivery=self._wake,
        )

    async def _nothing(self, project_id: str) -> None:
        return None

    async def _no_problem(self, project_id: str) -> str | None:
        return None

    def _wake(self) -> None:
        self.woken += 1

    async def ask(self, text: str, channel: str = "C1") -> Any:
        return await answer(parse(text), channel_id=channel, user_id="U1", deps=self.deps)

    async def queued(self) -> list[Event]:
        async with self.store.backend.read() as conn:
            rows = (await conn.execute(select(outbox.c.event))).scalars().all()
        return [Event.model_validate_json(row) for row in rows]


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    """On SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set (conftest's `store`)."""
    await store.subscribe(T, "C1", "7", added_by="U1")
    _, snapshot = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    _, snapshot = diff(
        snapshot,
        state(
            trial("a", "completed", accuracy=0.8, latency=20, ram=2048, rom=4096),
            trial("b", "failed"),
        ),
        project_id="7",
    )
    await store.save_poll("7", snapshot=snapshot, events=[], outage=Outage())
    yield Rig(store)


async def test_top_answers_from_the_snapshot(rig: Rig) -> None:
    reply = await rig.ask("top")  # the channel's only project
    assert "Top 1 of 1 completed trials" in reply.text and "80.0%" in reply.text
    # A number after `top` is a project id; one that is not the channel's says what was meant.
    eight = (await rig.ask("top 8")).text
    assert eight.startswith("This channel does not watch project 8")
    assert "for the 8 best trials of project 7: `/eon top 7 8`" in eight
    assert "`/eon top 7 N`" in (await rig.ask("top 999999")).text


async def test_chart_queues_the_runs_chart_for_this_channel(rig: Rig) -> None:
    reply = await rig.ask("chart 7")
    assert reply.text.startswith("📈 Drawing the run of project 7 (1 completed trial)")
    (queued,) = await rig.queued()
    data = chart_of(queued)
    assert [t.id for t in data.trials] == ["a", "b"] and queued.payload["on_demand"] is True
    assert rig.woken == 1
    await rig.ask("chart")
    assert len(await rig.queued()) == 2  # each request is its own chart


async def test_nothing_to_show_says_why(rig: Rig) -> None:
    await rig.store.subscribe(T, "C2", "8", added_by="U1")
    assert "has no EON Tuner run to show yet" in (await rig.ask("top", "C2")).text
    await rig.store.subscribe(T, "C2", "7", added_by="U1")
    assert "watches 2 projects: name one" in (await rig.ask("chart", "C2")).text
    assert "watches nothing" in (await rig.ask("top", "C9")).text


def test_top_shows_a_tuner_names_whole_and_keeps_rows_within_slacks_width() -> None:
    """Studio's names run to 30 characters ("gray-128x128-conv2d-3x32-d0.25"): not cut at 24,
    the column as wide as the longest name; only past 40 is a name cut, so a row stays
    within about 100 characters."""
    long = "gray-128x128-conv2d-3x32-d0.25"
    trials = [summary("aaaaaaaaaaaa", 0.9, name=long), summary("bbbbbbbbbbbb", 0.8, name="x" * 90)]
    rows = render_top("4", None, ChartData(project_id="4", trials=trials), 5).blocks[1]["text"]
    lines = rows["text"].strip("`").splitlines()
    assert long in lines[1] and "…" not in lines[1]
    assert "x" * 39 + "…" in lines[2]
    assert max(map(len, lines)) <= 100
    short = [summary("cccc", 0.9, name="tiny")]
    head = render_top("4", None, ChartData(project_id="4", trials=short), 5).blocks[1]["text"]
    assert "tiny  " in head["text"] and " " * 10 not in head["text"].splitlines()[1][:12]
