"""What the listeners are given: the store's part they use (a Protocol, so tests can pass a
small in-memory one) and the actions `build()` wires to the poller and delivery; and, for each
request, the workspace it came from (`Deps.of`): every read and write of a per-workspace row
names `deps.team`, so a workspace sees only its own rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from bot.core.events import Event, Snapshot
from bot.core.routing import Mode
from bot.core.rules import Rule
from bot.core.summary import RunSummary
from bot.keys import KeyRing
from bot.settings import Settings
from bot.slack.tokens import request_workspace
from bot.store import ActionRecord, AlertAdded, BellRang
from bot.tuner.keys import KeyVerdict

if TYPE_CHECKING:
    from bot.slack.actions import Click
    from bot.slack.delivery import Digester


class SubscriptionView(Protocol):
    """What commands read of a subscription (`bot.store.Subscription` has these fields)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def added_by(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def paused_reason(self) -> str | None: ...


class RunActing(Protocol):
    """Acting on a run from its buttons (`bot.slack.actions.RunActions`): `claim` checks and
    records a click (before the ack), `call` makes its Edge Impulse call (after); each returns
    what to tell the clicker (`claim`: instead of a record, when nothing was claimed)."""

    async def claim(self, click: Click) -> ActionRecord | str: ...
    async def call(self, record: ActionRecord) -> str | None: ...


class AlertView(Protocol):
    """What commands read of an alert (`bot.store.StoredAlert` has these fields)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def added_by(self) -> str: ...


class ListenerStore(Protocol):
    """The part of `bot.store.Store` the listeners use, so tests can pass a small in-memory one."""

    async def subscribe(
        self, team: str, channel_id: str, project_id: str, *, added_by: str, mode: Mode = "all"
    ) -> bool: ...
    async def unsubscribe(self, team: str, channel_id: str, project_id: str) -> bool: ...
    async def subscriptions(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> Sequence[SubscriptionView]: ...
    async def snapshot(self, project_id: str) -> Snapshot | None: ...
    async def summaries(self, project_ids: Sequence[str]) -> Mapping[str, RunSummary]: ...
    async def resume_channel(self, team: str, channel_id: str) -> None: ...
    async def set_mode(self, team: str, channel_id: str, project_id: str, mode: Mode) -> bool: ...
    async def queue(self, team: str, channel_id: str, event: Event) -> bool: ...
    async def failing(self, project_ids: Sequence[str]) -> Mapping[str, str]: ...
    async def project_names(self, project_ids: Sequence[str]) -> Mapping[str, str]: ...
    async def stops_in(self, team: str, project_ids: Collection[str]) -> list[ActionRecord]: ...
    async def add_alert(
        self, team: str, channel_id: str, project_id: str, rule: Rule, added_by: str
    ) -> AlertAdded: ...
    async def alerts(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> Sequence[AlertView]: ...
    async def remove_alerts(
        self, team: str, channel_id: str, project_id: str, numbers: Sequence[int] | None = None
    ) -> list[str]: ...
    async def add_bell(
        self, team: str, project_id: str, run_id: str, user_id: str, channel_id: str
    ) -> BellRang: ...
    async def remove_bell(self, team: str, project_id: str, run_id: str, user_id: str) -> bool: ...
    async def ring_due(self) -> int: ...
    async def set_digest(
        self,
        team: str,
        channel_id: str,
        at_minute: int | None,
        set_by: str,
        done_day: str | None = None,
    ) -> None: ...
    async def digest_at(self, team: str, channel_id: str) -> int | None: ...
    async def digest_times(self, team: str) -> Mapping[str, int]: ...
    async def bells_waiting(self, team: str, user_id: str) -> Sequence[tuple[str, str]]: ...


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Deps:
    """`start_watching` adds the project's poll job (polling at once, in the background);
    `stop_watching` removes it unless another channel still watches; `check_project` fetches
    the project once and returns None or a one-line error for the user (slow: never in ack);
    `wake_delivery` tells delivery that a channel may have work again; `keys` says which
    Edge Impulse key a project has (`bot.keys.ring`) and stores new ones."""

    store: ListenerStore
    settings: Settings
    start_watching: Callable[[str], Awaitable[None]]
    stop_watching: Callable[[str], Awaitable[None]]
    check_project: Callable[[str], Awaitable[str | None]]
    wake_delivery: Callable[[], None] = _nothing
    keys: KeyRing | None = None  # the stored keys (`/eon key`); None: the environment's alone
    check_key: Callable[[str, SecretStr], Awaitable[KeyVerdict]] | None = None  # bounded in time
    act: RunActing | None = None  # clicks on the run's buttons; None: this bot does not act
    digests: Digester | None = None  # `/eon digest now` and its clock; None: no digests
    team_of: Callable[[Mapping[str, Any]], str] = request_workspace  # `BotTokens.team_of`
    team: str = ""  # the workspace of the request these were given for (`of`)

    def of(self, context: Mapping[str, Any]) -> Deps:
        """These, for a request from the workspace bolt's `context` names."""
        return replace(self, team=self.team_of(context))
