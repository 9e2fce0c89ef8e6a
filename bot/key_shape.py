"""What an Edge Impulse API key may look like: the one rule every key meets before it is stored
or put in a header, whether pasted into the key form, set as `EI_API_KEY` /
`EI_API_KEY_<projectId>`, or opened from the store.

A key travels as the `x-api-key` header, so it must be a header's text: visible ASCII, one word.
A line break or a NUL would be a header injection (httpx and aiohttp refuse them with a
traceback), a non-ASCII letter does not encode, and 100 KB is no key. Edge Impulse's keys are
`ei_` and 64 hex digits; the rule asks less (at most the form's 200 characters), so an unusual
key is still Edge Impulse's to judge, but nothing that cannot be a header gets that far.

Pasting adds what no key holds at either end: spaces, a line break, a no-break space,
zero-width characters (U+200B..U+200D, U+2060, U+FEFF). `clean_key` trims them; `key_problem`
says in plain words why what is left is not a key, naming where, never a character of it.
"""

from __future__ import annotations

from typing import Final

from pydantic import SecretStr

from bot.errors import BadApiKey

KEY_MAX_CHARS: Final = 200  # the key form's limit, checked again on the server
INVISIBLE: Final = frozenset("\u200b\u200c\u200d\u2060\ufeff")  # zero-width, word joiner, BOM


def _blank(char: str) -> bool:
    return char.isspace() or char in INVISIBLE  # isspace: NBSP and the other Unicode spaces


def clean_key(text: str) -> str:
    """`text` without whitespace or zero-width characters at either end."""
    start, end = 0, len(text)
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    return text[start:end]


def key_problem(key: str) -> str | None:
    """None if `key` can be an Edge Impulse API key; else why not, one line for the person who
    gave it."""
    if not key:
        return "Paste the project's API key (Studio → Dashboard → Keys)."
    if len(key) > KEY_MAX_CHARS:
        return (
            f"The key is {len(key):,} characters long; an Edge Impulse API key is at most "
            f"{KEY_MAX_CHARS}. Paste the key alone."
        )
    for position, char in enumerate(key, 1):
        where = f"at character {position} of {len(key)}"
        if char in INVISIBLE:
            return (
                f"The key has an invisible character {where} (a zero-width space): type it again."
            )
        if char in "\r\n":
            return f"The key has a line break {where}: paste it as one line."
        if char.isspace():
            return f"The key has a space {where}: an API key is one word. Paste the key alone."
        if not char.isascii():
            return (
                f"The key has a character that is not plain ASCII {where}: API keys are "
                "letters, digits and _ (copy it again from Studio → Dashboard → Keys)."
            )
        if not char.isprintable():
            return f"The key has a control character {where}. Paste it again."
    return None


def key_header(project_id: str, key: SecretStr) -> str:
    """The `x-api-key` header's value for `key`, once it has a key's shape; else `BadApiKey`
    (nothing is sent). Every header made of a key is made here."""
    text = key.get_secret_value()
    problem = key_problem(text)
    if problem is not None:
        raise BadApiKey(project_id, problem)
    return text
