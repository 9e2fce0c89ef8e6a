"""The store against real databases: SQLite files and (with TEST_POSTGRES_URL) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import stat
import traceback
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.core.events import Event, EventKind, Snapshot, TrialMark
from bot.core.routing import MILESTONE_KINDS
from bot.core.summary import Counts, RunSummary, Workers
from bot.errors import ConfigError
from bot.store import Card, Outage, Store, TeamChannel
from tests.sql import statements

P = "42"
RUN = "R1"
T = ""  # the workspace these tests' rows belong to


def at(channel: str, team: str = T) -> TeamChannel:
    return TeamChannel(team, channel)


T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(kind: EventKind, *parts: object, project: str = P, run: str | None = RUN) -> Event:
    key = ":".join(str(p) for p in (project, run, kind.value, *parts))
    return Event(kind=kind, key=key, project_id=project, run_id=run, payload={"n": len(parts)})


def started(project: str = P, run: str = RUN) -> Event:
    return event(EventKind.RUN_STARTED, project=project, run=run)


def completed(trial: int, project: str = P) -> Event:
    return event(EventKind.TRIAL_COMPLETED, trial, project=project)


def summary(completed_trials: int = 0, project: str = P, run: str = RUN) -> RunSummary:
    return RunSummary(
        project_id=project,
        run_id=run,
        tuner_job_id="J1",
        status="running",
        running=True,
        finished=False,
        outcome=None,
        counts=Counts(completed=completed_trials, pending=5 - completed_trials),
        workers=Workers(busy=1),
        precision="int8",
    )


def snapshot(completed_trials: int = 0, project: str = P, run: str = RUN) -> Snapshot:
    return Snapshot(
        project_id=project,
        coordinator_job_id=run,
        tuner_job_id="J1",
        first_seen_at=T0,
        trials={"1": TrialMark(status="completed", completed_reported=True)},
        summary=summary(completed_trials, project, run),
    )


async def save(store: Store, *events: Event, project: str = P, **kw: Any) -> int:
    kw.setdefault("snapshot", snapshot(project=project))
    kw.setdefault("outage", Outage())
    return await store.save_poll(project, events=list(events), **kw)


async def keys(store: Store, channel: str) -> list[str]:
    return [row.event.key for row in await store.outbox(T, channel)]


async def sql(store: Store, statement: str, **params: Any) -> list[Any]:
    """Raw SQL for what the API deliberately does not expose (errors, schema version)."""
    async with store.backend.write() as conn:
        result = await conn.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


# --- subscriptions ---


async def test_subscribe_unsubscribe_and_duplicates(store: Store) -> None:
    assert await store.subscribe(T, "C1", P, added_by="U1") is True
    assert await store.subscribe(T, "C1", P, added_by="U2", mode="milestones") is False
    [sub] = await store.subscriptions(T)
    assert (sub.added_by, sub.mode, sub.needs_start, sub.paused_reason) == ("U1", "all", True, None)
    assert await store.unsubscribe(T, "C1", P) is True
    assert await store.unsubscribe(T, "C1", P) is False
    assert await store.subscriptions(T) == []
    assert await store.watched_projects() == []


async def test_a_project_nobody_follows_forgets_its_snapshot_when_watched_again(
    store: Store,
) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await save(store, snapshot=snapshot(completed_trials=2))
    await store.subscribe(T, "C2", P, added_by="U")  # someone still follows: nothing is reset
    assert await store.snapshot(P) == snapshot(completed_trials=2)
    await store.unsubscribe(T, "C1", P)
    await store.unsubscribe(T, "C2", P)
    assert await store.snapshot(P) == snapshot(completed_trials=2)  # kept while unwatched
    assert await store.subscribe(T, "C1", P, added_by="U") is True
    assert await store.snapshot(P) is None  # the next poll is a baseline
    await save(store, snapshot=snapshot(completed_trials=5))
    assert await store.subscribe(T, "C1", P, added_by="U") is False  # a repeat changes nothing
    assert await store.snapshot(P) == snapshot(completed_trials=5)


async def test_subscriptions_ordered_by_project_number_then_channel(store: Store) -> None:
    for channel, project in [("C2", "100"), ("C1", "9"), ("C3", "abc"), ("C2", "20"), ("C1", "20")]:
        await store.subscribe(T, channel, project, added_by="U")
    listed = [(s.project_id, s.channel_id) for s in await store.subscriptions(T)]
    assert listed == [("9", "C1"), ("20", "C1"), ("20", "C2"), ("100", "C2"), ("abc", "C3")]
    assert [s.project_id for s in await store.subscriptions(T, channel_id="C2")] == ["20", "100"]
    assert [s.channel_id for s in await store.subscriptions(T, project_id="20")] == ["C1", "C2"]
    assert await store.watched_projects() == ["9", "20", "100", "abc"]


async def test_subscribe_refuses_unknown_mode(store: Store) -> None:
    with pytest.raises(ValueError, match="mode"):
        await store.subscribe(T, "C1", P, added_by="U", mode="some")


async def test_times_come_back_aware_utc(database_url: str) -> None:
    plus_two = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    store = await Store.open(database_url, now=lambda: plus_two)
    try:
        await store.subscribe(T, "C1", P, added_by="U")
        [sub] = await store.subscriptions(T)
        assert sub.created_at == T0 and sub.created_at.tzinfo == UTC
    finally:
        await store.close()


# --- polling ---


async def test_save_poll_stores_snapshot_summary_outage_and_rows(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await store.subscribe(T, "C2", P, added_by="U")
    await store.subscribe(T, "C3", "other", added_by="U")
    outage = Outage(failing_since=T0, unreachable_notified=True, last_error="HTTP 503")
    added = await save(store, started(), completed(1), outage=outage)
    assert added == 4  # two events x two subscribed channels; not C3
    assert await store.load_project(P) == (snapshot(), outage)
    assert await store.snapshot(P) == snapshot()
    assert await store.run_summary(P, RUN) == (summary(), 1)
    assert await keys(store, "C1") == [started().key, completed(1).key]
    assert await keys(store, "C3") == []
    assert await store.channels_with_work() == ["C1", "C2"]


async def test_work_after_a_poll_looks_only_where_it_is_asked_to(store: Store) -> None:
    """Delivery's look after a project's poll: the subscriptions to the projects named and
    those of the channels named, each with work, nothing else; a look at nothing finds none."""
    await store.subscribe(T, "C1", P, added_by="U")
    await store.subscribe(T, "C2", P, added_by="U")
    await store.subscribe(T, "C3", "other", added_by="U")
    await store.subscribe(T, "C4", "quiet", added_by="U")
    await save(store, started())
    await save(store, started("other"), project="other", snapshot=snapshot(project="other"))
    assert await store.work() == {at("C1"): True, at("C2"): True, at("C3"): True}
    assert await store.work(projects={P}) == {at("C1"): True, at("C2"): True}
    assert await store.work(projects={"other", "quiet"}) == {at("C3"): True}
    assert await store.work(channels={at("C2"), at("C4")}) == {at("C2"): True}
    assert await store.work(projects={"other"}, channels={at("C1")}) == {
        at("C1"): True,
        at("C3"): True,
    }
    assert await store.work(projects=set()) == {}
    assert await store.work(projects={"quiet"}) == {}
    await store.pause_channel(T, "C3", "not_in_channel")
    assert await store.work(projects={"other"}, channels={at("C3")}) == {}


async def test_failed_poll_keeps_the_snapshot(store: Store) -> None:
    await save(store)
    outage = Outage(failing_since=T0, last_error="timeout")
    await store.save_poll(P, snapshot=None, events=[], outage=outage)
    assert await store.load_project(P) == (snapshot(), outage)
    assert await store.load_project("never") == (None, Outage())


class _Unstorable(Event):
    def model_dump_json(self, **kwargs: Any) -> str:
        raise RuntimeError("cannot serialise")


async def test_save_poll_is_one_transaction(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    bad = _Unstorable(kind=EventKind.TRIAL_FAILED, key="bad", project_id=P, run_id=RUN)
    with pytest.raises(RuntimeError):  # fails after the snapshot and the first row were written
        await save(store, started(), bad, outage=Outage(last_error="x"), start_event=started())
    assert await store.load_project(P) == (None, Outage())
    assert await store.run_summary(P, RUN) is None
    assert await store.outbox(T, "C1") == []
    assert [s.needs_start for s in await store.subscriptions(T)] == [True]


async def test_save_poll_rolls_back_a_database_failure(store: Store, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        statements = [
            "CREATE TRIGGER boom BEFORE INSERT ON outbox WHEN NEW.event_key = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        ]
    else:
        statements = [
            "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.event_key = 'boom' "
            "THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER boom BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION boom()",
        ]
    for statement in statements:
        await sql(store, statement)
    await store.subscribe(T, "C1", P, added_by="U")
    boom = Event(kind=EventKind.TRIAL_FAILED, key="boom", project_id=P, run_id=RUN)
    with pytest.raises(DBAPIError, match="boom"):
        await save(store, started(), boom)
    assert await store.snapshot(P) is None
    assert await store.outbox(T, "C1") == []
    assert await store.subscribe(T, "C2", P, added_by="U")  # the store still works


async def test_duplicates_ignored_across_calls_and_restarts(database_url: str) -> None:
    store = await Store.open(database_url)
    await store.subscribe(T, "C1", P, added_by="U")
    assert await save(store, started(), completed(1)) == 2
    assert await save(store, completed(1), completed(2)) == 1
    await store.close()
    store = await Store.open(database_url)  # a restart: same file or database
    try:
        assert await save(store, started(), completed(2), completed(3)) == 1
        assert await keys(store, "C1") == [started().key, completed(1).key] + [
            completed(2).key,
            completed(3).key,
        ]
    finally:
        await store.close()


async def test_racing_pollers_add_each_row_once(database_url: str) -> None:
    first, second = await Store.open(database_url), await Store.open(database_url)
    try:
        await first.subscribe(T, "C1", P, added_by="U")
        events = [started(), *(completed(n) for n in range(20))]
        counts = await asyncio.gather(*(save(s, *events) for s in (first, second, first)))
        assert sum(counts) == 21
        assert len(await second.outbox(T, "C1")) == 21
    finally:
        await first.close()
        await second.close()


async def test_milestones_subscriptions_skip_trials(store: Store) -> None:
    await store.subscribe(T, "CA", P, added_by="U")
    await store.subscribe(T, "CM", P, added_by="U", mode="milestones")
    failed = event(EventKind.TRIAL_FAILED, 1, 0)
    finished = event(EventKind.JOB_FINISHED)
    assert await save(store, started(), completed(1), failed, finished) == 6
    assert await keys(store, "CA") == [started().key, completed(1).key, failed.key, finished.key]
    assert await keys(store, "CM") == [started().key, finished.key]
    assert EventKind.API_UNREACHABLE in MILESTONE_KINDS
    assert EventKind.TRIAL_COMPLETED not in MILESTONE_KINDS


async def test_paused_subscriptions_queue_rows_but_have_no_work(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await store.subscribe(T, "C1", "7", added_by="U")
    await store.subscribe(T, "C2", P, added_by="U")
    await store.pause_channel(T, "C1", "channel_not_found")
    assert {s.paused_reason for s in await store.subscriptions(T, channel_id="C1")} == {
        "channel_not_found"
    }
    assert await save(store, started()) == 2  # nothing is dropped
    assert await store.channels_with_work() == ["C2"]
    assert await store.outbox(T, "C1") == []
    assert await store.watched_projects() == ["7", P]  # paused projects are still polled
    await store.resume_channel(T, "C1")
    assert await store.channels_with_work() == ["C1", "C2"]
    assert await keys(store, "C1") == [started().key]


async def test_start_event_goes_to_new_subscriptions_once(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    assert await save(store, start_event=started()) == 1
    assert [s.needs_start for s in await store.subscriptions(T)] == [False]

    await store.subscribe(T, "C2", P, added_by="U")
    assert await save(store, snapshot=None) == 0  # a failed poll has no start: C2 keeps waiting
    assert [s.needs_start for s in await store.subscriptions(T)] == [False, True]
    assert await save(store, completed(1), completed(2), start_event=started()) == 5
    assert await keys(store, "C1") == [started().key, completed(1).key, completed(2).key]
    # the start first, so the card exists before the trials it threads
    assert await keys(store, "C2") == [started().key, completed(1).key, completed(2).key]
    assert not any(s.needs_start for s in await store.subscriptions(T))

    other_start = started(run="R2")  # e.g. a new run: only for subscriptions waiting for one
    assert await save(store, start_event=other_start) == 0


async def test_start_event_among_events_keeps_their_order(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    finished = event(EventKind.JOB_FINISHED, run="R0")
    assert await save(store, finished, started(), start_event=started()) == 2
    assert await keys(store, "C1") == [finished.key, started().key]


# --- delivery ---


async def test_outbox_oldest_first_per_channel_with_limit(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await store.subscribe(T, "C1", "7", added_by="U")
    await save(store, completed(3), completed(1))
    await save(store, completed(9, project="7"), project="7", snapshot=None)
    await save(store, completed(2))
    rows = await store.outbox(T, "C1")
    assert [r.event.key for r in rows] == [
        completed(3).key,
        completed(1).key,
        completed(9, project="7").key,
        completed(2).key,
    ]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert {(r.state, r.attempts, r.channel_id, r.run_id) for r in rows} == {
        ("pending", 0, "C1", RUN)
    }
    assert rows[0].event == completed(3)
    assert [r.event.key for r in await store.outbox(T, "C1", limit=2)] == [
        completed(3).key,
        completed(1).key,
    ]


async def test_attempting_state_survives_a_reopen(database_url: str) -> None:
    store = await Store.open(database_url)
    await store.subscribe(T, "C1", P, added_by="U")
    await save(store, started(), completed(1))
    first = (await store.outbox(T, "C1"))[0]
    assert await store.mark_attempting(first.id) is True
    await store.close()
    store = await Store.open(database_url)
    try:
        rows = await store.outbox(T, "C1")
        assert [(r.id, r.state, r.attempts) for r in rows] == [
            (first.id, "attempting", 1),
            (rows[1].id, "pending", 0),
        ]
        assert await store.channels_with_work() == ["C1"]
    finally:
        await store.close()


async def test_retry_and_sent(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await save(store, started(), completed(1))
    row = (await store.outbox(T, "C1"))[0]
    await store.mark_attempting(row.id)
    await store.mark_retry(row.id, "ratelimited\n token xoxb-123-secret " + "x" * 1000)
    [(state, attempts, error)] = await sql(
        store, "SELECT state, attempts, last_error FROM outbox WHERE id = :id", id=row.id
    )
    assert (state, attempts) == ("pending", 1)
    assert "secret" not in error and "\n" not in error and len(error) <= 300
    await store.mark_attempting(row.id)
    await store.mark_sent(row.id, ts="1.0001")
    assert [r.event.key for r in await store.outbox(T, "C1")] == [completed(1).key]
    assert await store.sent_count(T) == 1 and await store.sent_count(T, "C2") == 0
    await store.mark_retry(row.id, "late")  # a sent row stays sent
    assert await store.sent_count(T, "C1") == 1
    assert await store.card(T, "C1", P, RUN) is None  # no card_version: not a card


async def test_mark_sent_with_card_version_records_the_card(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await save(store, started())
    row = (await store.outbox(T, "C1"))[0]
    await store.mark_attempting(row.id)
    await store.mark_sent(row.id, ts="111.222", card_version=1)
    assert await store.card(T, "C1", P, RUN) == Card("C1", P, RUN, "111.222", 1)
    assert await store.card(T, "C2", P, RUN) is None
    assert await store.channels_with_work() == []


async def test_dirty_cards_after_a_summary_change_only(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await save(store, started())
    row = (await store.outbox(T, "C1"))[0]
    await store.mark_sent(row.id, ts="111.222", card_version=1)
    await save(store)  # the same summary again
    assert await store.run_summary(P, RUN) == (summary(), 1)
    assert await store.dirty_cards(T, "C1") == []
    assert await store.channels_with_work() == []

    await save(store, snapshot=snapshot(completed_trials=2))
    card = Card("C1", P, RUN, "111.222", 1)
    assert await store.dirty_cards(T, "C1") == [(card, summary(2), 2)]
    assert await store.channels_with_work() == ["C1"]
    assert await store.work() == {at("C1"): False}  # only a card: delivery may hold the edit
    await save(store, completed(2), snapshot=snapshot(completed_trials=2))
    assert await store.work() == {at("C1"): True}  # a row owed as well
    row = (await store.outbox(T, "C1"))[0]
    await store.mark_sent(row.id, ts="111.333")
    await store.pause_channel(T, "C1", "not_in_channel")
    assert await store.dirty_cards(T, "C1") == [] and await store.channels_with_work() == []
    await store.resume_channel(T, "C1")

    await store.mark_card_rendered(card, 2)
    await store.mark_card_rendered(card, 1)  # a late, older edit does not move it back
    assert await store.card(T, "C1", P, RUN) == Card("C1", P, RUN, "111.222", 2)
    assert await store.dirty_cards(T, "C1") == []
    assert await store.channels_with_work() == []


async def test_unsubscribe_drops_only_undelivered_rows(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U")
    await store.subscribe(T, "C2", P, added_by="U")
    await save(store, started(), completed(1), completed(2))
    sent, attempting, pending = await store.outbox(T, "C1")
    await store.mark_sent(sent.id, ts="1.1")
    await store.mark_attempting(attempting.id)

    assert await store.unsubscribe(T, "C1", P)
    assert await store.mark_attempting(pending.id) is False  # gone: do not post it
    await store.mark_sent(attempting.id, ts="1.2")  # the attempt in flight still lands
    assert await store.sent_count(T, "C1") == 2
    assert len(await store.outbox(T, "C2")) == 3  # other channels untouched

    await store.subscribe(T, "C1", P, added_by="U")
    # C1: the sent and the abandoned-then-sent keys stay posted; C2 only lacks the new one
    assert await save(store, started(), completed(1), completed(2), completed(3)) == 3
    assert await keys(store, "C1") == [completed(2).key, completed(3).key]


async def test_healthy(store: Store) -> None:
    assert await store.healthy() is True


# --- opening ---


async def test_newer_schema_is_refused(database_url: str) -> None:
    store = await Store.open(database_url)
    await sql(store, "UPDATE schema_version SET version = 99")
    await store.close()
    with pytest.raises(ConfigError, match="version 99, newer"):
        await Store.open(database_url)


async def test_same_schema_version_reopens_untouched(database_url: str) -> None:
    store = await Store.open(database_url)
    await store.subscribe(T, "C1", P, added_by="U")
    [(version,)] = await sql(store, "SELECT version FROM schema_version")
    await store.close()
    store = await Store.open(database_url)
    try:
        assert await sql(store, "SELECT id, version FROM schema_version") == [(1, version)]
        assert len(await store.subscriptions(T)) == 1
    finally:
        await store.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_scheme_alias(database_url: str) -> None:
    store = await Store.open("postgres://" + database_url.removeprefix("postgresql://"))
    try:
        assert await store.healthy()
    finally:
        await store.close()


async def test_in_memory_sqlite() -> None:
    store = await Store.open("sqlite:///:memory:")
    try:
        await store.subscribe(T, "C1", P, added_by="U")
        assert await save(store, started(), completed(1)) == 2
    finally:
        await store.close()


def _modes(*paths: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in paths}


async def test_new_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "eon.db"
    old = os.umask(0o022)
    try:
        store = await Store.open(f"sqlite:///{path}")
    finally:
        os.umask(old)
    try:
        await store.subscribe(T, "C1", P, added_by="U")
        await save(store, started())
        # -wal: the database is in WAL mode
        assert _modes(path, Path(f"{path}-wal")) == {"eon.db": 0o600, "eon.db-wal": 0o600}
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("eon-bot.db", "not a URL"),
        ("mysql://u@host/db", "'mysql' is not supported"),
        ("https://example.com/db", "not supported"),
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("sqlite://host/eon.db", "names a file, not a host"),
        ("sqlite:///eon.db?mode=ro", "take no"),
        ("sqlite:////no/such/folder/eon.db", "does not exist"),
        ("postgresql://u@host:port/db", "not a URL"),
    ],
)
async def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as raised:
        await Store.open(url)
    assert "sqlite:///path/to/eon-bot.db" in str(raised.value)  # says what would work


@pytest.mark.parametrize(
    "url",
    [
        "mysql://admin:hunter2@db.example.com/eon",
        "postgresql://admin:hunter2@db.example.com:notaport/eon",
        "postgres://admin:hunter2@127.0.0.1:1/eon",  # parses, then cannot connect
    ],
)
async def test_password_never_in_errors(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        await Store.open(url)
    shown = "".join(traceback.format_exception(raised.value))
    assert "hunter2" not in shown
    assert "admin:***@" in str(raised.value)


# --- what /eon status reads -------------------------------------------------------------------


async def test_summaries_follow_each_poll_and_survive_a_reopen(database_url: str) -> None:
    """On SQLite they come from memory once read, on PostgreSQL from one query: either way
    what the last poll stored, for a store just opened as for the one that wrote it."""
    store = await Store.open(database_url)
    try:
        await store.subscribe(T, "C1", P, added_by="U")
        assert await store.summaries([P, "99"]) == {}
        await save(store)
        assert await store.summaries([P, "99"]) == {P: summary()}
        await save(store, snapshot=snapshot(completed_trials=3))
        assert await store.summaries([P]) == {P: summary(3)}
        await save(store, snapshot=None)  # a failed poll keeps what was shown
        assert await store.summaries([P]) == {P: summary(3)}
    finally:
        await store.close()
    reopened = await Store.open(database_url)
    try:
        assert await reopened.summaries([P]) == {P: summary(3)}
        await reopened.unsubscribe(T, "C1", P)
        await reopened.subscribe(T, "C2", P, added_by="U")  # nobody followed it: a fresh start
        assert await reopened.summaries([P]) == {}
    finally:
        await reopened.close()


async def test_many_rows_of_one_poll_keep_their_order(store: Store) -> None:
    """More rows than one INSERT carries: all stored, each once, in the events' order."""
    channels = [f"C{i:03d}" for i in range(40)]
    for channel in channels:
        await store.subscribe(T, channel, P, added_by="U")
    trials = [completed(n) for n in range(30)]
    assert await save(store, *trials) == 40 * 30
    assert await save(store, *trials) == 0
    assert await keys(store, "C017") == [item.key for item in trials]


async def test_status_reads_come_from_memory_on_sqlite_and_read_no_snapshot_on_postgres(
    store: Store, database_url: str
) -> None:
    """What `/eon status` reads: a channel's subscriptions and its projects' summaries. On
    SQLite (one process writes) both come from memory once loaded, and stay right across every
    kind of write; on PostgreSQL (other replicas write) they are read, but not the snapshots."""
    for channel, project in [("C1", P), ("C1", "7"), ("C2", P), ("C1", "8")]:
        await store.subscribe(T, channel, project, added_by="U")
    await store.summaries([P, "7", "8"])
    await store.subscriptions(T)
    await save(store, snapshot=snapshot(3), start_event=started())
    await save(store, project="7", snapshot=snapshot(1, project="7"), start_event=started("7"))
    with statements(store) as seen:
        await store.set_mode(T, "C1", "7", "milestones")
        await store.pause_channel(T, "C2", "channel_not_found")
        await store.unsubscribe(T, "C1", "8")
        await store.subscribe(T, "C3", "7", added_by="U2")
        await save(store, snapshot=snapshot(4))
        writes = len(seen)
        subs = await store.subscriptions(T, channel_id="C1")
        found = await store.summaries([P, "7"])
        everyone = await store.subscriptions(T)
        reads = seen[writes:]
    assert [(s.project_id, s.mode) for s in subs] == [("7", "milestones"), (P, "all")]
    assert found == {P: summary(4), "7": summary(1, project="7")}
    assert [(s.channel_id, s.project_id, s.paused_reason, s.needs_start) for s in everyone] == [
        ("C1", "7", None, False),
        ("C3", "7", None, True),
        ("C1", P, None, False),
        ("C2", P, "channel_not_found", False),
    ]
    if store.shared:
        read_snapshots = [sql for sql in reads if "snapshot" in sql.split(" FROM ")[0]]
        assert read_snapshots == [], reads
    else:
        assert reads == []
    reopened = await Store.open(database_url)
    try:  # what memory says is what the database says
        assert await reopened.subscriptions(T) == everyone
        assert await reopened.summaries([P, "7"]) == found
    finally:
        await reopened.close()
