"""A JSON document's changes as a short list of operations: `diff`, `apply`, `compact`.

The store keeps a project's snapshot as a base and the changes made since (`bot.store.snapshots`),
so a poll whose run moved writes the few keys that moved, not the whole document: on PostgreSQL
a rewritten snapshot leaves a dead version in TOAST for autovacuum to reclaim, a small row in
its page is reclaimed by the next update of that page.

An operation is `[path, value]` (set the value at `path`) or `[path]` (delete it); a path is
the object keys from the top. Objects are compared key by key; anything else (arrays, strings,
numbers) is replaced whole when it differs. An object walked into keeps its key order, and so
do the objects among its values; values equal under Python's `==` count as unchanged (`1`,
`1.0` and `true` are one value here): the store's snapshots are typed models, which read each
field back as its own type.

`diff` also takes two pydantic models of one class, compared as their JSON (`model_dump_json`)
would be, field by field in their order, without serialising or parsing the whole of either:
a poll's snapshot shares its unchanged parts with the one before, so most are found equal at
once. That holds for models whose JSON is their fields (no aliases, computed fields or custom
serialisers: `tests/store/test_patch.py` checks the snapshot's).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

Op = list[Any]  # [path] or [path, value]


def diff(old: Any, new: Any) -> list[Op]:
    """The operations that make `old` into `new` (JSON values, or models), keys in `new`'s
    order; the values in them are JSON values."""
    ops: list[Op] = []
    _diff(old, new, [], ops)
    return ops


def _diff(old: Any, new: Any, path: list[str], ops: list[Op]) -> None:
    if isinstance(new, BaseModel) and type(old) is type(new):
        for name in type(new).model_fields:
            before, after = getattr(old, name), getattr(new, name)
            if before is not after and (before != after or _reordered(before, after)):
                _diff(before, after, [*path, name], ops)
        return
    both = type(old) is dict and type(new) is dict
    if both and _same_order(old, new):
        ops.extend([[*path, key]] for key in old if key not in new)
        for key, value in new.items():
            if key not in old:
                ops.append([[*path, key], to_jsonable_python(value)])
            elif old[key] is not value and (old[key] != value or _reordered(old[key], value)):
                _diff(old[key], value, [*path, key], ops)
    elif both or old != new:
        ops.append([path, to_jsonable_python(new)])


def _reordered(old: Any, new: Any) -> bool:
    return type(old) is dict and type(new) is dict and list(old) != list(new)


def _same_order(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """`apply` keeps the remaining keys in place and adds new ones at the end: can it give
    `new`'s order? (Otherwise the object is replaced whole.)"""
    if old.keys() == new.keys():
        return list(old) == list(new)
    kept = [key for key in old if key in new]
    return list(new)[: len(kept)] == kept


def apply(document: Any, ops: list[Op]) -> Any:
    """`document` with `ops` done in order; changes `document` (pass one freshly parsed)."""
    for op in ops:
        path = op[0]
        if not path:
            document = op[1] if len(op) == 2 else None
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if len(op) == 2:
            parent[path[-1]] = op[1]
        else:  # may be gone already: `compact` drops a set that a later delete undoes
            parent.pop(path[-1], None)
    return document


def compact(ops: list[Op]) -> list[Op]:
    """`ops` without those a later one undoes (one at the same place, or one inside what a
    later one replaces or deletes): the same result, so changes made poll after poll stay as
    short as their last. A delete followed by a set of the same key stays: the key goes last."""
    latest: dict[tuple[str, ...], bool] = {}  # place → its latest op sets (else deletes)
    kept: list[Op] = []
    for op in reversed(ops):
        path = tuple(op[0])
        if any(path[:end] in latest for end in range(len(path))):
            continue  # inside what a later op replaced or deleted
        sets = len(op) == 2
        if path in latest and (sets or not latest[path]):
            continue  # a later op sets or deletes this very place
        latest[path] = sets and path not in latest  # a kept delete undoes all before it
        kept.append(op)
    kept.reverse()
    return kept
