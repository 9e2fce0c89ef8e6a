"""`bot.key_shape`: what a key may look like before it is stored or sent (issue 28, point 3).
Pasted keys from a hypothesis strategy: what pasting adds (spaces, line breaks, NBSP,
zero-width characters) around a key, and what no key holds inside one (a newline, a NUL,
non-ASCII letters, 100 KB). Whatever passes the rule is a header httpx and aiohttp accept."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import hdrs
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict
from pydantic import SecretStr

from bot.errors import BadApiKey
from bot.key_shape import INVISIBLE, KEY_MAX_CHARS, clean_key, key_header, key_problem

KEY = "ei_" + "0a" * 32  # the shape of Edge Impulse's keys
PADDING = st.text(st.sampled_from([" ", "\t", "\n", "\r", "\u00a0", *sorted(INVISIBLE)]))
INSIDE = st.sampled_from(["\n", "\x00", "\u200b", " ", "é", "ß", "\x7f", "\x1b", "键", "\u00a0"])


@given(before=PADDING, after=PADDING)
def test_what_pasting_adds_around_a_key_is_trimmed(before: str, after: str) -> None:
    cleaned = clean_key(before + KEY + after)
    assert cleaned == KEY and key_problem(cleaned) is None


@given(cut=st.integers(1, len(KEY) - 1), inside=INSIDE)
def test_what_no_key_holds_inside_one_is_refused_saying_where(cut: int, inside: str) -> None:
    pasted = clean_key(KEY[:cut] + inside + KEY[cut:])
    problem = key_problem(pasted)
    assert problem is not None and f"at character {cut + 1} of" in problem
    assert KEY[:6] not in problem and "\n" not in problem  # one line, nothing of the key
    with pytest.raises(BadApiKey) as caught:
        key_header("42", SecretStr(pasted))
    assert KEY[:6] not in str(caught.value) and "project 42" in str(caught.value)


@pytest.mark.parametrize(
    ("pasted", "answer"),
    [
        (KEY + "\u200b", None),
        ("\ufeff" + KEY + "\u00a0\n", None),
        (KEY[:10] + "\u200b" + KEY[10:], "an invisible character at character 11"),
        (KEY[:10] + "\n" + KEY[10:], "a line break at character 11"),
        (KEY[:10] + "\x00" + KEY[10:], "a control character at character 11"),
        ("ei_clé" + KEY[6:], "not plain ASCII at character 6"),
        (KEY * 1600, "107,200 characters long; an Edge Impulse API key is at most 200"),
        ("x" * (KEY_MAX_CHARS + 1), "201 characters long"),
        ("   ", "Paste the project's API key"),
    ],
)
def test_each_pasted_case_gets_its_answer(pasted: str, answer: str | None) -> None:
    problem = key_problem(clean_key(pasted))
    if answer is None:
        assert problem is None
    else:
        assert problem is not None and answer in problem, problem


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
@example("a" * KEY_MAX_CHARS)
def test_what_passes_the_rule_is_a_header_both_http_libraries_accept(text: str) -> None:
    key = clean_key(text)
    if key_problem(key) is not None:
        return
    assert 0 < len(key) <= KEY_MAX_CHARS and key == key.strip()
    header = key_header("1", SecretStr(key))
    assert httpx.Headers({"x-api-key": header})["x-api-key"] == key
    assert header.encode("ascii").isascii() and not set(header) & set("\r\n\x00 ")
    CIMultiDict({hdrs.ACCEPT: "x", "x-api-key": header})  # aiohttp's own header container
