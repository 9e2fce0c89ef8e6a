"""The seed OpenAPI document of the tuner state, as a JSON Schema validator (test helper).

OpenAPI 3.0 components become `$defs` of a draft 2020-12 schema rooted at
`OptimizeStateResponse`, with the one relaxation `shared/design.md` makes: `TunerTrialImpulse`
requires singular `inputBlock`/`dspBlock`/`learnBlock` while its properties are plural, so that
`required` list is dropped. `strict=True` also refuses properties the schema does not name
(where it names any and does not allow others), so a misspelt key cannot pass unnoticed.

The seed lives outside the repository (`../shared/seed/`); `EON_TUNER_SCHEMA` may point
elsewhere. Without it, `seed_validator` skips the calling test.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

_NAME = "optimize-state.openapi.yaml"
_CANDIDATES = (
    Path(__file__).parent / "data" / _NAME,
    Path(__file__).resolve().parents[2] / "shared" / "seed" / _NAME,
)


def seed_path() -> Path | None:
    given = os.environ.get("EON_TUNER_SCHEMA")
    found = [Path(given)] if given else [p for p in _CANDIDATES if p.is_file()]
    return found[0] if found else None


def _forbid_unknown(node: Any, *, top: bool = True) -> None:
    """Add `unevaluatedProperties: false` to every object schema that lists properties.

    Not to a bare `allOf` branch (its siblings' properties would count as unknown); the object
    holding the `allOf` gets it instead, which sees the properties of every branch.
    """
    if isinstance(node, list):
        for item in node:
            _forbid_unknown(item)
        return
    if not isinstance(node, dict):
        return
    if "allOf" in node:
        node.setdefault("unevaluatedProperties", False)
        for branch in node["allOf"]:
            _forbid_unknown(branch, top=False)
    elif top and "properties" in node and "additionalProperties" not in node:
        for name in node.get("required", []):  # required yet undeclared, e.g. `blockId`
            node["properties"].setdefault(name, {})
        node["unevaluatedProperties"] = False
    for key, value in node.items():
        if key != "allOf":
            _forbid_unknown(value)


@cache
def _schema(path: Path, strict: bool) -> str:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    defs = copy.deepcopy(spec["components"]["schemas"])
    defs["TunerTrialImpulse"].pop("required", None)
    if strict:
        wrapped = {
            name for d in defs.values() for b in d.get("allOf", []) for name in [b.get("$ref")]
        }
        for name, schema in defs.items():
            _forbid_unknown(schema, top=f"#/components/schemas/{name}" not in wrapped)
    text = json.dumps(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/OptimizeStateResponse",
            "$defs": defs,
        }
    )
    return text.replace('"#/components/schemas/', '"#/$defs/')


def seed_validator(*, strict: bool = False) -> Draft202012Validator:
    """A validator of whole `GET /optimize/state` documents; skips the test without a seed."""
    path = seed_path()
    if path is None:
        pytest.skip(f"{_NAME} not found (set EON_TUNER_SCHEMA)")
    schema = json.loads(_schema(path, strict))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
