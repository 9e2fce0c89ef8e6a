"""The store's parts behind one `Store`, and what each backend keeps in memory."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from bot.store import Store, Subscription
from bot.store.backend import Backend, PostgresBackend, SqliteBackend
from bot.store.mirror import Memory, Mirror
from bot.store.store import via
from bot.store.url import parse

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def sub(channel: str, project: str, **fields: object) -> Subscription:
    values: dict[str, object] = {
        "team_id": "T1",
        "channel_id": channel,
        "project_id": project,
        "added_by": "U1",
        "mode": "all",
        "paused_reason": None,
        "created_at": T0,
        "needs_start": True,
    }
    return Subscription(**{**values, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "kind"),
    [("sqlite:///:memory:", SqliteBackend), ("postgresql://u@127.0.0.1:1/db", PostgresBackend)],
)
def test_each_url_gets_its_backend_and_every_store_method_reaches_its_part(
    url: str, kind: type[Backend]
) -> None:
    target = parse(url)
    backend = Backend.of(target, create_async_engine(target.url))  # no connection yet
    assert type(backend) is kind
    store = Store(backend)
    offered = {name: d for name, d in vars(Store).items() if isinstance(d, via)}
    assert len(offered) > 30
    for name, delegated in offered.items():
        method = getattr(store, name)
        assert method.__self__ is getattr(store, delegated.part), name
        assert inspect.iscoroutinefunction(method), name


def test_a_backend_leaves_nothing_of_the_interface_unanswered() -> None:
    for kind in (SqliteBackend, PostgresBackend):
        assert not inspect.isabstract(kind), kind.__abstractmethods__


def test_memory_knows_nothing_and_keeps_nothing() -> None:
    memory = Memory()
    memory.load([sub("C1", "42")])
    memory.put(sub("C2", "42"))
    memory.summarised("42", "{}")
    assert memory.subscriptions(None) is None
    assert memory.subscriptions("T1", project_id="42") is None
    assert memory.summary("42") is None
    assert memory.may_await_start("42") is True


def test_a_mirror_knows_subscriptions_once_loaded_and_follows_each_change() -> None:
    mirror = Mirror()
    mirror.put(sub("C0", "1"))  # before loading: not kept (the load reads the table)
    assert mirror.subscriptions(None) is None
    assert mirror.may_await_start("42") is True
    mirror.load([sub("C1", "42"), sub("C2", "42", mode="best"), sub("C1", "7")])
    assert {(s.channel_id, s.project_id) for s in mirror.subscriptions(None) or []} == {
        ("C1", "42"),
        ("C2", "42"),
        ("C1", "7"),
    }
    assert [s.mode for s in mirror.subscriptions("T1", channel_id="C2") or []] == ["best"]
    assert mirror.subscriptions("T2", channel_id="C2") == []  # another workspace's channel
    mirror.started("42", [("T1", "C1"), ("T1", "C2")])
    assert mirror.may_await_start("42") is False
    mirror.paused("T1", "C1", "not_in_channel")
    assert [s.paused_reason for s in mirror.subscriptions("T1", channel_id="C1") or []] == [
        "not_in_channel",
        "not_in_channel",
    ]
    mirror.drop("T1", "C1", "42")
    assert mirror.subscriptions("T1", channel_id="C1", project_id="42") == []
    assert mirror.summary("42") is None
    mirror.summarised("42", "{}")
    assert mirror.summary("42") == "{}"
    mirror.summarised("42", None)
    assert mirror.summary("42") is None
