"""The one project-id rule that `/eon` and the tuner client call."""

from __future__ import annotations

import pytest

from bot.core.project_ids import MAX_PROJECT_ID, canonical_project_id


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1", "1"),
        ("42", "42"),
        ("0042", "42"),
        ("0" * 30 + "7", "7"),  # leading zeros never make an id too long
        (str(MAX_PROJECT_ID - 1), str(MAX_PROJECT_ID - 1)),
        (str(MAX_PROJECT_ID), None),
        ("9" * 20, None),
        ("0", None),
        ("000", None),
        ("-1", None),
        ("+1", None),
        ("1.0", None),
        (" 1", None),
        ("٤٢", None),  # Arabic-Indic digits: isdigit() says yes, Edge Impulse says no
        ("²", None),
        ("", None),
        ("ei_0123456789", None),
    ],
)
def test_canonical_project_id(text: str, canonical: str | None) -> None:
    assert canonical_project_id(text) == canonical
