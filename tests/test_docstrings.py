"""Docstrings and comments in the product say what and why; the figures that were measured
live in `bench/README.md` ("Figures behind the design"), bench output and commit messages,
where going stale is expected. This catches the usual shapes of a measurement."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.sizes import ROOT, modules

MEASURED = re.compile(
    r"\d[\d.,]*(?:-\d[\d.,]*)? ?(?:ms|µs|s) (?:of CPU|for|a |per |every|at )"
    r"|\d[\d.,]* ?% (?:of|more|less|faster|slower|saved)"
    r"|\d+(?:\.\d+)?x (?:faster|slower)"
    r"|at 1,000 projects",
)


def texts(path: Path) -> list[tuple[int, str]]:
    """Each comment and string literal of the module (docstrings among them), by line."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            found.append((token.start[0], token.string))
    return found


def test_no_measured_figure_in_the_products_docstrings_or_comments() -> None:
    product = [p for p in modules() if "sandbox" not in p.parts]
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}"
        for path in product
        for line, text in texts(path)
        for match in MEASURED.finditer(" ".join(text.split()))
    ]
    assert not hits, "measured figures belong in bench/README.md:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    "text",
    [
        "# at 1,000 projects one took 80-190 ms every 1-10 s",
        '"""spent 0.9-1.3 ms of CPU on a GET"""',
        "# 6 % of the drawing's time saved",
        "# 32 µs for a 55 KB document",
        "# some 40 % more CPU than the transport",
        "# 3x faster than before",
    ],
)
def test_the_shapes_of_a_measurement_are_caught(text: str) -> None:
    assert MEASURED.search(text)


@pytest.mark.parametrize(
    "text",
    ['"""12 → "12 ms", 0.8 → "0.8 ms": a decimal under 10 ms."""', "# 10 % jitter", "# 2.7 KB"],
)
def test_what_a_format_or_a_limit_says_is_not_a_measurement(text: str) -> None:
    assert not MEASURED.search(text)
