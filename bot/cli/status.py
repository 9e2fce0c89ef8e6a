"""`eon-bot status PROJECT_ID`: fetch a project's tuner state once and print its summary.

A command for people at a terminal, so every failure is one line on stderr starting
`eon-bot: ` with an exit status from `bot.cli.EXIT_CODES`, never a traceback: 0 printed,
2 bad input or settings, including what Edge Impulse refuses as one (a wrong key, a project
the key cannot see, an EI_API_URL that is not the API: the fix is the person's), 3 Edge
Impulse could not be reached or did not answer as it should, 1 something unexpected.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from datetime import datetime
from typing import TextIO

import httpx
from pydantic import SecretStr

from bot.cli import BAD_SETUP, OK, PROBLEMS, exit_code_of
from bot.clock import utcnow
from bot.core.status_text import status_lines
from bot.core.summarize import summarize_run
from bot.errors import ConfigError, EonBotError, InvalidProjectId, TunerApiError
from bot.fmt import one_line, redact
from bot.keys import KeyRing
from bot.service.edges import tuner_client
from bot.settings import Settings, load_settings
from bot.store import Store, parse_url
from bot.tuner.client import TunerClient, default_transport, project_id_from
from bot.tuner.project_info import fetch_project_name

_LINE_LIMIT = 600


def _secrets(settings: Settings | None) -> Iterable[SecretStr]:
    if settings is None:
        return ()
    keys = [settings.ei_api_key, *settings.project_keys.values()]
    return [key for key in keys if key is not None]


def _say(err: TextIO, text: str, settings: Settings | None) -> None:
    """The one stderr line; cutting keys out again is a last guard (messages carry none)."""
    text = redact(text, (secret.get_secret_value() for secret in _secrets(settings)))
    print(f"eon-bot: {one_line(text, _LINE_LIMIT)}", file=err)


async def _stored_keys(settings: Settings) -> Callable[[str], SecretStr | None] | None:
    """The keys stored with `/eon key` first, as in `run`'s polls (`bot.keys.ring`): one
    stored under another SECRET_KEY, or with none set, is said to be so (never "no key", and
    no other key stands in); None (the environment's keys alone) when there is no database
    to read. A SQLite file that does not exist is not created for this."""
    try:
        sqlite_path = parse_url(settings.database_url).sqlite_path
        if sqlite_path is not None and not sqlite_path.exists():
            return None
        store = await Store.open(settings.database_url)
    except ConfigError:
        return None
    try:
        ring = KeyRing(settings, store)
        await ring.refresh(say=False, reseal=False)  # a look: `run` re-seals
    finally:
        await store.close()
    return ring.api_key_for


async def _project_name(tuner: TunerClient, project_id: str) -> str | None:
    """The project's name as Slack shows it ("Keyword spotting (project 1)"); None when Edge
    Impulse will not say (a key that may not read it): the status is printed all the same."""
    try:
        return await fetch_project_name(tuner, project_id)
    except TunerApiError:
        return None


async def status(
    project_id: str,
    *,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Print the status of `project_id`'s tuner run and return the exit status.

    `settings` default to `Settings()` (environment and `.env`); `transport` to
    `default_transport()`, closed afterwards (a transport passed in is left open). `out`/`err`
    default to `sys.stdout`/`sys.stderr` as they are at call time.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        project_id = project_id_from(project_id)
        if settings is None:
            settings = load_settings()
    except (InvalidProjectId, ConfigError) as exc:
        _say(err, str(exc), None)
        return BAD_SETUP
    try:
        async with AsyncExitStack() as stack:
            if transport is None:
                transport = await stack.enter_async_context(default_transport())
            tuner = tuner_client(settings, transport, await _stored_keys(settings))
            state = await tuner.get_state(project_id)
            name = await _project_name(tuner, project_id)
        summary = summarize_run(project_id, state, now=now())
        lines = status_lines(summary.model_copy(update={"project_name": name}))
    except EonBotError as exc:
        _say(err, str(exc), settings)
        return exit_code_of(exc)
    except Exception as exc:  # the command's edge: one line, not a traceback
        _say(err, f"unexpected error ({type(exc).__name__}): {exc}", settings)
        return PROBLEMS
    print("\n".join(lines), file=out)
    return OK
