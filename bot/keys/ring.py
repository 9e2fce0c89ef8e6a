"""Which Edge Impulse key a poll uses: one stored with `/eon key` (the earliest added, of any
workspace that has not left), then `EI_API_KEY_<projectId>`, then `EI_API_KEY`
(`KeyRing.api_key_for`, the one place that says so); and which workspaces may be told of a
project (`KeyRing.readers`): all when the deployment has a key for it, else those that stored
one of their own. A workspace that left (uninstalled, its token revoked) has its keys kept,
and re-sealed in a rotation, for its return within the grace period, but not used.

Stored keys are held opened in memory and read again every `refresh_s` (a fraction of the poll
interval): that is how a key added through one PostgreSQL replica reaches the others within
one poll interval. Only rows whose sealed text changed are opened again. A row that does not
open (another `SECRET_KEY`, or none set) is never used and no other key stands in for it: its
polls fail with `StoredKeyUnreadable`, and the start-up log says so once, on one line.

With `SECRET_KEY_PREVIOUS` set, a row sealed under it opens as well (no gap for its polls) and
each replica's refresh writes it back sealed under `SECRET_KEY` (`KeyStore.reseal_key`, only
if the row still holds what was read: the first replica to do it wins, the others read its
text at their next refresh). `eon-bot check` reads without writing (`reseal=False`) and counts
the rows still under the previous secret (`previous`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import SecretStr

from bot.conditions import Condition, Unexpected
from bot.errors import StoredKeyUnreadable
from bot.keys.box import KeyBox, Unreadable, mask
from bot.settings import Settings
from bot.store import SealedKey, keep_doing

log = logging.getLogger(__name__)

KeySource = Literal["stored", "environment", "default", "unreadable", "none"]


class KeyStore(Protocol):
    async def sealed_keys(self) -> Sequence[SealedKey]: ...
    async def away_teams(self) -> frozenset[str]: ...
    async def put_key(
        self, team: str, project_id: str, sealed: str, *, role: str | None, added_by: str
    ) -> None: ...
    async def remove_key(self, team: str, project_id: str) -> bool: ...
    async def reseal_key(self, team: str, project_id: str, sealed: str, resealed: str) -> bool: ...


Owned = tuple[str, str]  # (workspace, project): a stored key's place


class KeyRing:
    def __init__(
        self, settings: Settings, store: KeyStore, *, database: Condition | None = None
    ) -> None:
        self._settings = settings
        self._store = store
        # The database's one condition (`bot.service.poller.database_condition`): an outage is said
        # once for the process, not at each refresh.
        self._database = database
        self._unexpected = Unexpected(log)
        secret = settings.secret_key
        previous = settings.secret_key_previous
        self.box = KeyBox(secret, previous) if secret is not None else None
        self._opened: dict[Owned, tuple[str, SecretStr]] = {}  # → (sealed, key)
        self._rows: dict[Owned, SealedKey] = {}  # the earliest added first
        self._unreadable_keys: frozenset[Owned] = frozenset()
        self._unreadable: frozenset[str] = frozenset()  # projects no stored key opens for
        self._previous: frozenset[str] = frozenset()
        self._away: frozenset[str] = frozenset()  # workspaces that left: their keys unused

    def api_key_for(self, project_id: str) -> SecretStr | None:
        """The key for the project's polls: the earliest added stored key that opens, else
        the environment's; `StoredKeyUnreadable` rather than another key when none opens."""
        if project_id in self._unreadable:
            raise StoredKeyUnreadable(project_id, secret_key_set=self.box is not None)
        for (team, project), (_, key) in self._opened.items():
            if project == project_id and team not in self._away:
                return key
        return self._settings.api_key_for(project_id)

    def key_of(self, team: str, project_id: str) -> SecretStr | None:
        """The key a workspace acts on the project with: its own stored key, else the
        deployment's (never another workspace's)."""
        opened = self._opened.get((team, project_id))
        return opened[1] if opened is not None else self._settings.api_key_for(project_id)

    def readers(self, project_id: str) -> frozenset[str] | None:
        """The workspaces that may be told of the project: None (all) when the deployment
        has a key for it, else those that stored a key of their own that opens. None too when
        no key reads it at all: every channel is then told to add one, as ever."""
        if self._settings.api_key_for(project_id) is not None:
            return None
        found = frozenset(team for team, project in self._opened if project == project_id)
        return (found - self._away) or None

    def poll_source(self, project_id: str) -> KeySource:
        """Where the key the project's polls use comes from (`eon-bot check`)."""
        if project_id in self._unreadable:
            return "unreadable"
        if any(p == project_id and t not in self._away for t, p in self._opened):
            return "stored"
        return self._deployment_source(project_id)

    def source(self, team: str, project_id: str) -> KeySource:
        """Where the key the workspace reads the project with comes from (for `eon-bot
        check` and the Home tab): its own stored key, else the deployment's."""
        if (team, project_id) in self._unreadable_keys:
            return "unreadable"
        if (team, project_id) in self._opened:
            return "stored"
        return self._deployment_source(project_id)

    def _deployment_source(self, project_id: str) -> KeySource:
        if project_id in self._settings.project_keys:
            return "environment"
        return "default" if self._settings.ei_api_key is not None else "none"

    def masked(self, team: str, project_id: str) -> str | None:
        """The workspace's stored key as `ei_…abcd`, to tell two keys apart (admins' Home
        tab), or None."""
        opened = self._opened.get((team, project_id))
        return mask(opened[1]) if opened is not None else None

    def row(self, team: str, project_id: str) -> SealedKey | None:
        """Who of the workspace stored its key of the project and when, and its role."""
        return self._rows.get((team, project_id))

    @property
    def unreadable(self) -> frozenset[str]:
        """The projects whose stored keys none opens."""
        return self._unreadable

    @property
    def previous(self) -> frozenset[str]:
        """The projects whose stored key is still sealed under `SECRET_KEY_PREVIOUS`."""
        return self._previous

    @property
    def stored_projects(self) -> list[str]:
        """The projects with a stored key, readable or not."""
        return list(dict.fromkeys(project for _, project in self._rows))

    async def refresh(self, *, say: bool = True, reseal: bool = True) -> frozenset[str]:
        """Read the stored keys again, re-sealing under `SECRET_KEY` those sealed under the
        previous secret (unless `reseal` is false: a command that only looks); returns the
        projects whose key does not open (logged once unless `say` is false: a command that
        reports them itself)."""
        rows = await self._store.sealed_keys()
        self._away = await self._store.away_teams()  # still re-sealed, for a return
        opened: dict[Owned, tuple[str, SecretStr]] = {}
        unreadable: set[Owned] = set()
        previous: set[str] = set()
        resealed: list[str] = []
        for row in rows:
            at = (row.team_id, row.project_id)
            kept = self._opened.get(at)
            if kept is not None and kept[0] == row.sealed and row.project_id not in self._previous:
                opened[at] = kept
                continue
            try:
                sealed, key, again = self._open(row)
            except Unreadable:
                unreadable.add(at)
                continue
            if again is not None and reseal:
                if await self._store.reseal_key(row.team_id, row.project_id, sealed, again):
                    sealed = again
                    resealed.append(row.project_id)
            elif again is not None:
                previous.add(row.project_id)
            opened[at] = (sealed, key)
        self._opened = opened
        self._rows = {(row.team_id, row.project_id): row for row in rows}
        self._previous = frozenset(previous)
        self._unreadable_keys = frozenset(unreadable)
        if resealed:
            log.info("%s", resealed_line(resealed))
        readable = {project for _, project in opened}
        return self._unreadable_now({p for _, p in unreadable} - readable, say=say)

    def _unreadable_now(self, unreadable: set[str], *, say: bool) -> frozenset[str]:
        """Keep the projects no stored key opens for, logging those new since (once)."""
        fresh = frozenset(unreadable) - self._unreadable
        self._unreadable = frozenset(unreadable)
        if fresh and say:
            rotating = self.box is not None and self.box.rotating
            line = unreadable_line(sorted(fresh), secret_key_set=self.box is not None,
                                   rotating=rotating)  # fmt: skip
            log.error("%s", line)
        return self._unreadable

    def _open(self, row: SealedKey) -> tuple[str, SecretStr, str | None]:
        """(the row's text, its key, its text sealed under `SECRET_KEY` if it was sealed under
        the previous secret), or `Unreadable`."""
        if self.box is None:
            raise Unreadable(row.project_id)
        key = self.box.open(row.project_id, row.sealed)
        return row.sealed, key, self.box.reseal(row.project_id, row.sealed)

    async def run(self, every: float) -> None:
        """Refresh every `every` seconds until cancelled; a failed read is logged and retried."""
        await keep_doing(every, self.refresh, "reading the stored Edge Impulse keys",
                    database=self._database, unexpected=self._unexpected)  # fmt: skip

    async def add(
        self, team: str, project_id: str, key: SecretStr, *, role: str | None, user: str
    ) -> None:
        """Seal and store the workspace's key of the project (replacing its own); used here
        at once."""
        if self.box is None:
            raise RuntimeError("no SECRET_KEY: keys cannot be stored")
        sealed = self.box.seal(project_id, key)
        await self._store.put_key(team, project_id, sealed, role=role, added_by=user)
        await self.refresh()

    async def remove(self, team: str, project_id: str) -> bool:
        removed = await self._store.remove_key(team, project_id)
        await self.refresh()
        return removed


def resealed_line(project_ids: Sequence[str]) -> str:
    """One line: which stored keys this replica re-sealed under the new `SECRET_KEY`."""
    shown = ", ".join(project_ids[:10]) + (" …" if len(project_ids) > 10 else "")
    return (
        f"re-sealed {len(project_ids)} stored Edge Impulse key(s) (project(s) {shown}) under "
        "SECRET_KEY; SECRET_KEY_PREVIOUS can go once `eon-bot check` finds none left under it"
    )


def unreadable_line(
    project_ids: Sequence[str], *, secret_key_set: bool, rotating: bool = False
) -> str:
    """One line: which stored keys cannot be used, why, and the fix."""
    shown = ", ".join(project_ids[:10]) + (" …" if len(project_ids) > 10 else "")
    why = "were stored under another SECRET_KEY" if secret_key_set else "need SECRET_KEY, unset"
    if rotating:
        why = "open under neither SECRET_KEY nor SECRET_KEY_PREVIOUS"
    return (
        f"{len(project_ids)} stored Edge Impulse key(s) (project(s) {shown}) cannot be "
        f"decrypted: they {why}; their projects are not polled until SECRET_KEY is the one "
        "they were stored with, or their keys are added again with /eon key PROJECT_ID"
    )
