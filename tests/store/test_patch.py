"""`bot.store.patch`: the changes between two JSON documents, done again on the first."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bot.core.events import Listing, Snapshot, TrialMark
from bot.core.summary import TrialSummary
from bot.store.patch import apply, compact, diff
from tests.store.test_hot_tables import grown

BASE = {"a": 1, "b": {"x": [1, 2], "y": "s"}, "c": None}


@pytest.mark.parametrize(
    ("new", "ops"),
    [
        (BASE, []),
        ({**BASE, "a": 2}, [[["a"], 2]]),
        ({**BASE, "b": {"x": [1, 2], "y": "t"}}, [[["b", "y"], "t"]]),
        ({**BASE, "b": {"x": [2, 1], "y": "s"}}, [[["b", "x"], [2, 1]]]),  # arrays whole
        ({"a": 1, "b": BASE["b"]}, [[["c"]]]),  # a key gone
        ({**BASE, "d": False}, [[["d"], False]]),  # a new key goes last
        ({**BASE, "c": 0}, [[["c"], 0]]),  # null is a value, not a deletion
        ({"c": None, "a": 1, "b": BASE["b"]}, [[[], {"c": None, "a": 1, "b": BASE["b"]}]]),
        ({"a": 1, "b": {"y": "s", "x": [1, 2]}, "c": None}, [[["b"], {"y": "s", "x": [1, 2]}]]),
        ([1], [[[], [1]]]),
    ],
    ids=[
        "same",
        "number",
        "nested",
        "array",
        "deleted",
        "added",
        "null-to-0",
        "keys-reordered",
        "inner-keys-reordered",
        "not-an-object",
    ],
)
def test_diff_names_what_changed_and_apply_does_it(new: Any, ops: list[Any]) -> None:
    assert diff(BASE, new) == ops
    done = apply(copy.deepcopy(BASE), json.loads(json.dumps(ops)))
    assert json.dumps(done) == json.dumps(new)  # the same keys in the same order


def test_compact_keeps_the_last_change_of_each_place() -> None:
    ops = [
        [["a"], 1],
        [["b", "x"], 1],
        [["b", "y"], 2],
        [["b"], {"x": 0}],  # replaces both above
        [["b", "z"], 3],  # after the replacement: kept
        [["a"], 2],
        [["c"]],
    ]
    assert compact(ops) == [[["b"], {"x": 0}], [["b", "z"], 3], [["a"], 2], [["c"]]]


def test_a_key_deleted_then_added_again_goes_last_as_it_did() -> None:
    documents = [{"a": 1, "b": 2}, {"b": 2}, {"b": 2, "a": 1}, {"b": 2}, {"b": 2, "a": 3}]
    ops: list[Any] = []
    for before, after in zip(documents, documents[1:], strict=False):
        ops = compact([*ops, *diff(before, after)])
    assert ops == [[["a"]], [["a"], 3]]
    assert json.dumps(apply(dict(documents[0]), ops)) == json.dumps({"b": 2, "a": 3})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=2, max_size=5))
def test_changes_made_one_after_another_and_compacted_give_the_last_document(
    documents: list[Any],
) -> None:
    """What the store does poll after poll: the compacted changes since the first document,
    done on it, give the last one (equal as Python values: `1 == True`, and objects compare
    without their key order, which the table above checks)."""
    ops: list[Any] = []
    for before, after in zip(documents, documents[1:], strict=False):
        ops = compact([*ops, *diff(before, after)])
        stored = json.loads(json.dumps(ops))  # as the row keeps them
        assert apply(copy.deepcopy(documents[0]), stored) == after


def _models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """`model` and every model its fields hold (in dicts, tuples, optionals)."""
    found = {model}
    for field in model.model_fields.values():
        for held in _types(field.annotation):
            if held not in found:
                found |= _models(held)
    return found


def _types(annotation: Any) -> set[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    return {held for arg in get_args(annotation) for held in _types(arg)}


def test_the_snapshots_json_is_its_fields() -> None:
    """What `diff` of two models relies on: each model's JSON is its fields, in order."""
    models = _models(Snapshot)
    assert {TrialMark, TrialSummary, Listing} <= models
    for model in models:
        decorators = model.__pydantic_decorators__
        assert not model.model_computed_fields, model
        assert not decorators.field_serializers and not decorators.model_serializers, model
        assert all(f.alias is None and not f.exclude for f in model.model_fields.values()), model


MOMENT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RUNNING = grown(3, running=1, elapsed=1.0)


@pytest.mark.parametrize(
    "after",
    [
        RUNNING,
        grown(3, running=2, elapsed=2.5),  # a trial replaced by another
        grown(4, running=1, elapsed=3.0),  # one more ended: marks, summary
        RUNNING.model_copy(update={"run_trials": ("t0", "t1"), "progress_at": MOMENT}),
        RUNNING.model_copy(
            update={"listing": Listing(digest="d", earliest=(MOMENT, "t0"), training={"t0": 5})}
        ),
        RUNNING.model_copy(update={"trials": {}, "summary": None}),
    ],
    ids=["same", "other-trial", "trial-ended", "tuple-and-time", "listing", "emptied"],
)
def test_models_are_diffed_as_their_json_would_be(after: Snapshot) -> None:
    before = json.loads(RUNNING.model_dump_json())
    ops = diff(RUNNING, after)
    assert ops == diff(before, json.loads(after.model_dump_json()))
    done = apply(before, json.loads(json.dumps(ops)))
    assert done == json.loads(after.model_dump_json())
    assert Snapshot.model_validate_json(json.dumps(done)) == after
