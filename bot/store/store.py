"""The bot's memory, opened from `DATABASE_URL`: one `Store` made of its parts.

A poll's result is stored in ONE transaction (snapshot, summary, outage and one outbox row per
(event, subscribed channel)), so a crash never leaves a snapshot that claims events were
reported without their rows, nor rows without the snapshot. Inserts that may race (two
pollers, a restart) use the dialect's `INSERT … ON CONFLICT DO NOTHING`; UNIQUE(channel, event
key) makes each event reach a channel at most once. Tables and migrations: `schema`; the URL
and the engine: `url`; SQLite or PostgreSQL: `backend`; what each part keeps:
`subscriptions`, `polls`, `outbox`, `cards`, `leases`, `retention`, `ei_keys`, `actions`, `outages`,
`names`, `alerts`, `bells`, `digests`, `installations`.

Each part is a small class given the backend (and the clock, and another part it needs);
`Store` builds them and offers their methods as its own (`via`), so callers see one object.
A new part: its own module and class, built in `Store.__init__`, its methods listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, cast, overload

from bot.clock import utcnow
from bot.errors import ConfigError
from bot.store import url
from bot.store.actions import Actions
from bot.store.alerts import Alerts
from bot.store.backend import Backend
from bot.store.bells import Bells
from bot.store.cards import Cards
from bot.store.digests import Digests
from bot.store.ei_keys import EiKeys
from bot.store.installations import Installations
from bot.store.leases import Leases
from bot.store.migrations import migrate
from bot.store.names import Names
from bot.store.outages import Outages
from bot.store.outbox import Outbox
from bot.store.polls import Polls
from bot.store.retention import Retention
from bot.store.subscriptions import Subscriptions

Part = TypeVar("Part")
P = ParamSpec("P")
R = TypeVar("R")


class via(Generic[Part, P, R]):
    """`name = via("_part", Part.name)`: the part's method, offered on `Store` itself. A
    class attribute, so a subclass (a test's store that races) can override it and call
    `super()`; resolved by name on the part, so it is the part's own override that runs."""

    def __init__(self, part: str, method: Callable[Concatenate[Part, P], R]) -> None:
        self.part, self.name = part, method.__name__

    @overload
    def __get__(self, store: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, store: object, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, store: object | None, owner: type[Any]) -> Self | Callable[P, R]:
        if store is None:
            return self
        return cast("Callable[P, R]", getattr(getattr(store, self.part), self.name))


class Store:
    """All database access. Create with `await Store.open(url)`; `close()` when done."""

    def __init__(self, backend: Backend, *, now: Callable[[], datetime] = utcnow) -> None:
        self.backend = backend
        self._leases = Leases(backend)
        self._subscriptions = Subscriptions(backend, now)
        self._alerts = Alerts(backend, now)
        self._polls = Polls(backend, now, self._leases, self._alerts)
        self._outbox = Outbox(backend, now, self._leases)
        self._cards = Cards(backend)
        self._retention = Retention(backend)
        self._ei_keys = EiKeys(backend, now)
        self._actions = Actions(backend, now, self._polls)
        self._outages = Outages(backend)
        self._names = Names(backend)
        self._bells = Bells(backend, now)
        self._digests = Digests(backend, now)
        self._installations = Installations(backend, now)

    @classmethod
    async def open(cls, database_url: str, *, now: Callable[[], datetime] = utcnow) -> Store:
        """Connect, create or migrate the schema; ConfigError if the URL or the database is bad."""
        target = url.parse(database_url)
        engine = url.create_engine(database_url, target)
        store = cls(Backend.of(target, engine), now=now)
        try:
            async with store.backend.write() as conn:
                await conn.run_sync(migrate)
        except ConfigError:
            await engine.dispose()
            raise
        except Exception as exc:
            await engine.dispose()
            raise url.cannot_open(database_url, target, exc) from exc
        await store.backend.start(store._subscriptions.stored)
        return store

    @property
    def shared(self) -> bool:
        """Whether other processes may write here too: PostgreSQL replicas (`bot.service.fleet`).
        A SQLite file serves one process (`bot.service.fleet.SqliteLock`)."""
        return self.backend.shared

    close = via("backend", Backend.close)
    healthy = via("backend", Backend.healthy)

    subscribe = via("_subscriptions", Subscriptions.subscribe)
    set_mode = via("_subscriptions", Subscriptions.set_mode)
    unsubscribe = via("_subscriptions", Subscriptions.unsubscribe)
    subscriptions = via("_subscriptions", Subscriptions.subscriptions)
    all_subscriptions = via("_subscriptions", Subscriptions.all_subscriptions)
    adopt = via("_subscriptions", Subscriptions.adopt)
    watched_projects = via("_subscriptions", Subscriptions.watched_projects)
    pause_channel = via("_subscriptions", Subscriptions.pause_channel)
    resume_channel = via("_subscriptions", Subscriptions.resume_channel)

    load_project = via("_polls", Polls.load_project)
    stored_project = via("_polls", Polls.stored_project)
    snapshot = via("_polls", Polls.snapshot)
    save_poll = via("_polls", Polls.save_poll)
    queue = via("_polls", Polls.queue)
    summaries = via("_polls", Polls.summaries)
    run_summary = via("_polls", Polls.run_summary)

    channels_with_work = via("_outbox", Outbox.channels_with_work)
    work = via("_outbox", Outbox.work)
    outbox = via("_outbox", Outbox.outbox)
    mark_attempting = via("_outbox", Outbox.mark_attempting)
    mark_sent = via("_outbox", Outbox.mark_sent)
    mark_retry = via("_outbox", Outbox.mark_retry)
    count_failure = via("_outbox", Outbox.count_failure)
    mark_given_up = via("_outbox", Outbox.mark_given_up)
    card = via("_cards", Cards.card)
    earlier_card = via("_cards", Cards.earlier_card)
    dirty_cards = via("_cards", Cards.dirty_cards)
    mark_card_rendered = via("_cards", Cards.mark_card_rendered)
    sent_failures = via("_outbox", Outbox.sent_failures)
    sent_of_run = via("_outbox", Outbox.sent_of_run)
    sent_count = via("_outbox", Outbox.sent_count)
    waiting_count = via("_outbox", Outbox.waiting_count)

    join = via("backend", Backend.join)
    leave = via("backend", Backend.leave)
    live_replicas = via("backend", Backend.live_replicas)
    take = via("_leases", Leases.take)
    renew = via("_leases", Leases.renew)
    release = via("_leases", Leases.release)

    prune = via("_retention", Retention.prune)

    put_key = via("_ei_keys", EiKeys.put_key)
    remove_key = via("_ei_keys", EiKeys.remove_key)
    reseal_key = via("_ei_keys", EiKeys.reseal_key)
    sealed_keys = via("_ei_keys", EiKeys.sealed_keys)

    claim_action = via("_actions", Actions.claim_action)
    drop_action = via("_actions", Actions.drop_action)
    move_action = via("_actions", Actions.move_action)
    stale_actions = via("_actions", Actions.stale_actions)
    followed_actions = via("_actions", Actions.followed_actions)
    actions_of = via("_actions", Actions.actions_of)
    stopped_from_slack = via("_actions", Actions.stopped_from_slack)
    stops_in = via("_actions", Actions.stops_in)

    failing = via("_outages", Outages.failing)

    add_alert = via("_alerts", Alerts.add_alert)
    alerts = via("_alerts", Alerts.alerts)
    remove_alerts = via("_alerts", Alerts.remove_alerts)

    add_bell = via("_bells", Bells.add_bell)
    remove_bell = via("_bells", Bells.remove_bell)
    bells_of = via("_bells", Bells.bells_of)
    bells_waiting = via("_bells", Bells.bells_waiting)
    bell_channel = via("_bells", Bells.bell_channel)
    ring_due = via("_bells", Bells.ring_due)

    set_digest = via("_digests", Digests.set_digest)
    digest_at = via("_digests", Digests.digest_at)
    digest_times = via("_digests", Digests.digest_times)
    digests_waiting = via("_digests", Digests.digests_waiting)
    project_days = via("_digests", Digests.project_days)
    queue_digest = via("_digests", Digests.queue_digest)

    put_installation = via("_installations", Installations.put_installation)
    installation = via("_installations", Installations.installation)
    installed_teams = via("_installations", Installations.installed_teams)
    reseal_installation = via("_installations", Installations.reseal_installation)
    revoke_installation = via("_installations", Installations.revoke_installation)
    workspace_counts = via("_installations", Installations.workspace_counts)
    away_teams = via("_installations", Installations.away_teams)
    departed = via("_installations", Installations.departed)
    forget_installation = via("_installations", Installations.forget_installation)
    issue_state = via("_installations", Installations.issue_state)
    consume_state = via("_installations", Installations.consume_state)

    project_name = via("_names", Names.project_name)
    project_names = via("_names", Names.project_names)
    put_project_name = via("_names", Names.put_project_name)
