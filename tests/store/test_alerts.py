"""Threshold alerts in the store, on SQLite and PostgreSQL: kept only where the channel watches
the project, numbered in the order added, dropped with the subscription; a poll's completions
judged in order, one notice per alert and run, also across a restart and racing replicas."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.core.events import Event, EventKind, RunRef
from bot.core.rules import Rule, parse_rule
from bot.store import Outage, Store
from tests.store.test_store import snapshot

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

P = "42"
RUN = RunRef(P, "R1", "J1", "EON Tuner run 1", "Keyword spotting")
NEXT_RUN = RunRef(P, "R2", "J2", "EON Tuner run 2", "Keyword spotting")


def rule(text: str) -> Rule:
    found = parse_rule(text)
    assert isinstance(found, Rule), found
    return found


def completed(trial: str, accuracy: float, latency: float, run: RunRef = RUN) -> Event:
    return run.event(
        EventKind.TRIAL_COMPLETED,
        trial,
        trial_id=trial,
        trial_name=f"trial {trial}",
        accuracy=accuracy,
        latency_ms=latency,
    )


async def poll(store: Store, *events: Event) -> int:
    return await store.save_poll(P, snapshot=snapshot(), events=list(events), outage=Outage())


async def told(store: Store, channel: str) -> list[tuple[str, str | None]]:
    """(kind, trial) of each row queued for the channel, in the order it is delivered."""
    return [(row.event.kind.value, row.event.trial_id) for row in await store.outbox(T, channel)]


async def test_an_alert_needs_the_channel_to_watch_the_project(store: Store) -> None:
    target = rule("accuracy>=0.92 latency<=50")
    assert await store.add_alert(T, "C1", P, target, "U1") == "not_watched"
    await store.subscribe(T, "C1", P, added_by="U1", mode="milestones")  # any mode will do
    assert await store.add_alert(T, "C1", P, target, "U1") == "added"
    assert await store.add_alert(T, "C1", P, rule("latency<=50 accuracy>=92%"), "U2") == "added"
    assert await store.add_alert(T, "C1", P, rule("accuracy>=92% latency<=50ms"), "U2") == "exists"
    shown = await store.alerts(T, channel_id="C1")
    assert [(a.rule, a.added_by) for a in shown] == [
        ("accuracy>=92% latency<=50ms", "U1"),
        ("latency<=50ms accuracy>=92%", "U2"),
    ]
    assert await store.alerts(T, channel_id="C2") == []
    assert await store.unsubscribe(T, "C1", P)
    assert await store.alerts(T, channel_id="C1") == []  # gone with the subscription
    await store.subscribe(T, "C1", P, added_by="U1")
    assert await store.alerts(T, channel_id="C1") == []  # watching again brings none back


async def test_alerts_are_removed_by_number_or_all_and_capped(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U1")
    for n in range(1, 11):
        assert await store.add_alert(T, "C1", P, rule(f"latency<={n}"), "U1") == "added"
    assert await store.add_alert(T, "C1", P, rule("latency<=99"), "U1") == "full"
    assert await store.remove_alerts(T, "C1", P, [2, 10, 11]) == ["latency<=2ms", "latency<=10ms"]
    left = [a.rule for a in await store.alerts(T, channel_id="C1", project_id=P)]
    assert left[:2] == ["latency<=1ms", "latency<=3ms"] and len(left) == 8
    assert await store.remove_alerts(T, "C2", P) == []
    assert len(await store.remove_alerts(T, "C1", P)) == 8
    assert await store.alerts(T, channel_id="C1") == []


async def test_the_first_completion_to_meet_an_alert_is_told_once_per_run(store: Store) -> None:
    await store.subscribe(T, "CA", P, added_by="U1", mode="all")
    await store.subscribe(T, "CM", P, added_by="U1", mode="milestones")
    await store.subscribe(T, "CQ", P, added_by="U1", mode="all")  # no alert: no notice
    target = rule("accuracy>=0.9 latency<=50")
    assert await store.add_alert(T, "CA", P, target, "U1") == "added"
    assert await store.add_alert(T, "CM", P, target, "U1") == "added"
    await poll(store, completed("t5", 0.95, 80.0), completed("t6", 0.91, 40.0))
    await poll(store, completed("t7", 0.5, 10.0), completed("t8", 0.93, 20.0))
    assert await told(store, "CA") == [
        ("eon_trial_completed", "t5"),
        ("eon_trial_completed", "t6"),
        ("eon_threshold_met", "t6"),  # right after the completion that met it
        ("eon_trial_completed", "t7"),
        ("eon_trial_completed", "t8"),  # meets it again: not told again
    ]
    assert await told(store, "CM") == [("eon_threshold_met", "t6")]  # any mode gets its own
    assert [kind for kind, _ in await told(store, "CQ")].count("eon_threshold_met") == 0
    (notice,) = [r.event for r in await store.outbox(T, "CM")]
    assert notice.run_id == "R1" and notice.metadata()["event_payload"] == {
        "project_id": P,
        "tuner_job_id": "J1",
        "trial_id": "t6",
        "trial_name": "trial t6",
        "rule": "accuracy>=90% latency<=50ms",
        "accuracy": 0.91,
        "latency_ms": 40.0,
    }
    await poll(store, completed("u1", 0.99, 1.0, NEXT_RUN))
    assert await told(store, "CM") == [("eon_threshold_met", "t6"), ("eon_threshold_met", "u1")]


async def test_two_alerts_met_by_one_trial_and_one_met_twice_in_a_poll(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U1")
    await store.add_alert(T, "C1", P, rule("accuracy>=90%"), "U1")
    await store.add_alert(T, "C1", P, rule("latency<50"), "U1")
    await poll(store, completed("t1", 0.95, 40.0), completed("t2", 0.96, 30.0))
    rows = [
        (r.event.kind.value, r.event.trial_id, r.event.payload.get("rule"))
        for r in await store.outbox(T, "C1")
    ]
    assert rows == [
        ("eon_trial_completed", "t1", None),
        ("eon_threshold_met", "t1", "accuracy>=90%"),
        ("eon_threshold_met", "t1", "latency<50ms"),
        ("eon_trial_completed", "t2", None),
    ]


async def test_once_across_a_restart(database_url: str) -> None:
    first = await Store.open(database_url)
    try:
        await first.subscribe(T, "C1", P, added_by="U1")
        await first.add_alert(T, "C1", P, rule("accuracy>=0.9"), "U1")
        await poll(first, completed("t6", 0.91, 40.0))
    finally:
        await first.close()
    again = await Store.open(database_url)
    try:
        await poll(again, completed("t8", 0.92, 40.0))
        kinds = [kind for kind, _ in await told(again, "C1")]
        assert kinds.count("eon_threshold_met") == 1
    finally:
        await again.close()


async def test_once_across_racing_replicas(postgres_url: str) -> None:
    """Two replicas store polls of the same run at once, each with a completion that meets
    the alert (a handover: the old poller's last poll beside the new one's first)."""
    replicas = [await Store.open(postgres_url) for _ in range(2)]
    try:
        await replicas[0].subscribe(T, "C1", P, added_by="U1")
        await replicas[0].add_alert(T, "C1", P, rule("accuracy>=0.9"), "U1")
        for _ in range(5):
            await asyncio.gather(
                poll(replicas[0], completed("t6", 0.91, 40.0)),
                poll(replicas[1], completed("t8", 0.92, 40.0)),
            )
        notices: list[Any] = [
            row
            for row in await replicas[1].outbox(T, "C1")
            if row.event.kind.value == "eon_threshold_met"
        ]
        assert len(notices) == 1
    finally:
        for replica in replicas:
            await replica.close()
