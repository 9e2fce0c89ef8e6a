"""Every store query on a per-workspace table names its workspace (DESIGN33 point 6).

`watching()` wraps each public method of the store's parts so the statements it runs are known
to be its own (a context variable: SQLAlchemy runs them in a greenlet of the calling task), and
checks each statement that touches a per-workspace table: an INSERT lists `team_id`; a SELECT,
UPDATE or DELETE has `team_id` in its WHERE, or picks rows by their `id` (which only a read
that named the workspace gave out). The store's fleet-wide work (`FLEET_WIDE`: a project's poll
fanned out to every workspace, the sweeps over every replica's claims, retention, start-up)
is by design every workspace's, and listed here by name: a new method is checked unless it is
added to that list, which a reviewer sees.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.store.actions import Actions
from bot.store.alerts import Alerts
from bot.store.bells import Bells
from bot.store.cards import Cards
from bot.store.digests import Digests
from bot.store.ei_keys import EiKeys
from bot.store.leases import Leases
from bot.store.outbox import Outbox
from bot.store.polls import Polls
from bot.store.retention import Retention
from bot.store.subscriptions import Subscriptions
from bot.store.workspaces import TEAM_TABLES

PER_WORKSPACE = frozenset(table.name for table in TEAM_TABLES)
PARTS = (
    Subscriptions, Polls, Outbox, Cards, Leases, Retention, EiKeys, Actions, Alerts, Bells,
    Digests,
)  # fmt: skip
FLEET_WIDE = frozenset(
    {
        "Polls.save_poll",  # one poll per project, fanned out to every workspace's channels
        "Outbox.work",  # which channels, of every workspace, delivery drains
        "Outbox.channels_with_work",
        "Outbox.waiting_count",  # a gauge of the whole outbox
        "Outbox.sent_count",  # counts, of one workspace when asked (team given)
        "Leases.renew",  # this replica's claims, whoever's rows they are
        "Retention.prune",  # old rows of every workspace
        "Actions.stale_actions",  # every replica's lost claims
        "Actions.followed_actions",  # every started job, followed to its end
        "Actions.stopped_from_slack",  # a run is one: stopped for everyone
        "Bells.ring_due",  # every run's end owed by DM (each queued to its own workspace)
        "EiKeys.sealed_keys",  # the key ring reads every workspace's keys
        "Digests.digests_waiting",  # every channel's digest time
        "Subscriptions.all_subscriptions",  # what is polled
        "Subscriptions.watched_projects",
        "Subscriptions.stored",  # memory filled at start
        "Subscriptions.adopt",  # single mode: '' rows become the token's workspace's
    }
)

# Statements of a workspace's method that look at every workspace on purpose, by their start.
FLEET_WIDE_STATEMENTS = frozenset(
    {
        # `subscribe`: whether any workspace still follows the project (else a fresh baseline)
        ("Subscriptions.subscribe", "SELECT count(*) AS count_1 FROM subscriptions WHERE "),
    }
)

_RUNNING: contextvars.ContextVar[str | None] = contextvars.ContextVar("store_method", default=None)
_TABLES = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)
_BY_ID = re.compile(r"\b(?:\w+\.)?id (?:=|IN)", re.IGNORECASE)


def unscoped(statement: str) -> list[str]:
    """The per-workspace tables `statement` touches without naming the workspace."""
    touched = sorted(PER_WORKSPACE.intersection(t.lower() for t in _TABLES.findall(statement)))
    if not touched:
        return []
    if statement.lstrip().upper().startswith("INSERT"):
        columns = statement.partition("(")[2].partition(")")[0]
        return [] if "team_id" in columns else touched
    where = statement.partition(" WHERE ")[2]
    return [] if "team_id" in where or _BY_ID.search(where) else touched


def _wrap(name: str, method: Any) -> Any:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _RUNNING.get() is not None:  # a method inside another: the outer one answers
            return await method(*args, **kwargs)
        token = _RUNNING.set(name)
        try:
            return await method(*args, **kwargs)
        finally:
            _RUNNING.reset(token)

    return wrapper


@contextmanager
def watching(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """(method, statement) of each store statement that does not name its workspace."""
    for part in PARTS:
        for name, method in vars(part).items():
            if not name.startswith("_") and inspect.iscoroutinefunction(method):
                monkeypatch.setattr(part, name, _wrap(f"{part.__name__}.{name}", method))
    found: list[tuple[str, str]] = []

    def check(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        method = _RUNNING.get()
        if method is None or method in FLEET_WIDE:
            return  # a test's own SQL, a migration, or the store's fleet-wide work
        folded = " ".join(statement.split())
        if any(method == m and folded.startswith(start) for m, start in FLEET_WIDE_STATEMENTS):
            return
        if unscoped(folded):
            found.append((method, folded))

    event.listen(Engine, "before_cursor_execute", check)
    try:
        yield found
    finally:
        event.remove(Engine, "before_cursor_execute", check)
