"""A project's snapshot as its row keeps it: a base (`snapshot`) and the changes since
(`snapshot_patch`, `bot.store.patch`), so a poll whose run moved writes a few hundred bytes
instead of the whole snapshot, which grows with the run's trials.

Why: on PostgreSQL a snapshot of more than about 2 KB lives in TOAST, and every rewrite leaves
its old chunks dead until autovacuum's next round (`autovacuum_naptime`, a minute by default):
the table held a minute of whole snapshots, growing as they grew. A short patch stays in the
row, whose old versions the next update of its page reclaims without vacuum (a HOT update), and
an update that leaves `snapshot` alone keeps its TOAST chunks as they are. The base is written
whole again when the changes since would be longer than `PATCH_MAX_CHARS` (when trials end,
the summary's ranked lists move).

`snapshot_tag` is the digest of the snapshot the row holds. A patch is written only onto the
row it was made for (the same tag, and the same patch before it); a writer whose idea of the
row is stale (another replica polled the project meanwhile, a new watch reset it, retention
deleted it) matches nothing and writes the whole snapshot instead: a stale memory costs a
longer write, never a wrong snapshot.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from pydantic import BaseModel
from sqlalchemy import Executable, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.patch import apply, compact, diff
from bot.store.schema import digest, projects

PATCH_MAX_CHARS = 1500
"""Longer changes rewrite the base: the row stays within PostgreSQL's 2 KB inline limit."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def whole(base: str | None, patch: str | None) -> str | None:
    """The snapshot's JSON from its row's `snapshot` and `snapshot_patch`."""
    if base is None or patch is None:
        return base
    return _dumps(apply(json.loads(base), json.loads(patch)))


CLEARED = {"snapshot": None, "snapshot_patch": None, "snapshot_tag": None}
"""The values that forget a project's snapshot (a fresh baseline)."""


class Change(NamedTuple):
    """A new snapshot to store: its JSON `text`; `stored`: the JSON the row holds, as the
    caller last stored or read it (None: unknown); `old` and `new`: the two as models, when
    the caller has them (else they are parsed from the JSON to be compared)."""

    text: str
    stored: str | None
    old: BaseModel | None = None
    new: BaseModel | None = None


class SnapshotWriter:
    """Writes snapshots as patches where it can; remembers, per project, the patch its row
    holds (as this process last wrote or read it), from which the next one is made."""

    def __init__(self) -> None:
        self._patches: dict[str, str | None] = {}
        self._guarded: Executable = (
            update(projects)
            .where(projects.c.project_id == bindparam("b_project"))
            .where(projects.c.snapshot_tag == bindparam("b_tag"))
            .where(projects.c.snapshot_patch.is_not_distinct_from(bindparam("b_patch")))
        )

    def read(self, project_id: str, row: Any) -> str | None:
        """The snapshot in `row` (a `projects` row), remembering its patch."""
        self._patches[project_id] = row.snapshot_patch
        return whole(row.snapshot, row.snapshot_patch)

    def patch(self, project_id: str, change: Change) -> tuple[str, str] | None:
        """(tag, patch) turning the snapshot the row holds into the new one, if short enough;
        None: write it whole."""
        if change.stored is None or project_id not in self._patches:
            return None
        before = self._patches[project_id]
        if change.old is not None and change.new is not None:
            steps = diff(change.old, change.new)
        else:
            steps = diff(json.loads(change.stored), json.loads(change.text))
        ops = compact([*(json.loads(before) if before else []), *steps])
        patch = _dumps(ops)
        if len(patch) > PATCH_MAX_CHARS or len(patch) >= len(change.text):
            return None
        return digest(change.stored), patch

    async def write(
        self, conn: AsyncConnection, values: dict[str, Any], change: Change, whole: Executable
    ) -> str | None:
        """Store `change.text` as the project's snapshot with the other `values` of its row: a
        patch onto the row `change.stored` describes, else (`whole`, an upsert) the whole of it.
        Returns the patch the row now holds; `written` records it after the commit."""
        project_id = values["project_id"]
        found = self.patch(project_id, change)
        tag = digest(change.text)
        if found is not None:
            old_tag, patch = found
            params = {
                **{k: v for k, v in values.items() if k != "project_id"},
                "snapshot_patch": patch,
                "snapshot_tag": tag,
                "b_project": project_id,
                "b_tag": old_tag,
                "b_patch": self._patches[project_id],
            }
            if (await conn.execute(self._guarded, params)).rowcount == 1:
                return patch
        columns = {"snapshot": change.text, "snapshot_patch": None, "snapshot_tag": tag}
        await conn.execute(whole, {**values, **columns})
        return None

    def written(self, project_id: str, patch: str | None) -> None:
        """The transaction that wrote `patch` (None: the whole snapshot) committed."""
        self._patches[project_id] = patch
