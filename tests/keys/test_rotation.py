"""Changing `SECRET_KEY` without losing the stored keys (issue #28, point 6): with
`SECRET_KEY_PREVIOUS` set, what the old secret sealed still opens, and each replica re-seals it
under the new one; polls never go without their key meanwhile, and afterwards the old secret
alone opens nothing. Real databases (SQLite, and PostgreSQL with TEST_POSTGRES_URL) with two
stores standing for two replicas, and polls over real HTTP to the simulator, which refuses a
wrong key."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.cli.status import status
from bot.errors import StoredKeyUnreadable
from bot.keys import KeyBox, KeyRing
from bot.keys.box import Unreadable
from bot.sandbox.simulator.server import SimulatorServer
from bot.service.edges import tuner_client
from bot.settings import Settings
from bot.store import Store
from bot.tuner.client import default_transport
from tests.test_check import FAIL, PASS, rows, world

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

OLD, NEW, STRANGER = SecretStr("o" * 40), SecretStr("n" * 40), SecretStr("x" * 40)
KEY = "ei_rotation_key_0123456789abcdef"
PROJECTS = ["1", "2", "3"]


def test_the_previous_secret_opens_and_reseal_moves_a_key_under_the_new_one() -> None:
    sealed = KeyBox(OLD).seal("7", SecretStr(KEY))
    rotating = KeyBox(NEW, OLD)
    assert rotating.open("7", sealed).get_secret_value() == KEY
    again = rotating.reseal("7", sealed)
    assert again is not None and again != sealed
    assert KeyBox(NEW).open("7", again).get_secret_value() == KEY  # the new secret alone
    with pytest.raises(Unreadable):
        KeyBox(OLD).open("7", again)  # the old one alone: nothing
    assert rotating.reseal("7", again) is None  # already under SECRET_KEY
    assert KeyBox(NEW).reseal("7", sealed) is None  # no previous secret: nothing to do
    with pytest.raises(Unreadable):
        rotating.reseal("7", KeyBox(STRANGER).seal("7", SecretStr(KEY)))
    with pytest.raises(Unreadable):
        rotating.reseal("8", sealed)  # another project's row still does not open
    shown = repr(rotating)
    assert "SECRET_KEY_PREVIOUS=****" in shown and "o" * 10 not in shown and "n" * 10 not in shown


def test_secret_key_previous_is_a_secret_needing_secret_key_and_empty_is_unset() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY is not"):
        Settings.given(secret_key_previous=OLD)
    with pytest.raises(ValueError, match="32 characters"):
        Settings.given(secret_key=NEW, secret_key_previous="short")
    assert Settings.given(secret_key=NEW, secret_key_previous="").secret_key_previous is None
    assert "o" * 40 not in repr(Settings.given(secret_key=NEW, secret_key_previous=OLD))


def settings(secret: SecretStr, previous: SecretStr | None = None, **values: object) -> Settings:
    return Settings.given(secret_key=secret, secret_key_previous=previous, **values)


@asynccontextmanager
async def replicas(database_url: str, count: int) -> AsyncIterator[list[Store]]:
    stores = [await Store.open(database_url) for _ in range(count)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_two_replicas_rotate_without_a_gap_and_the_old_secret_then_opens_nothing(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.keys.ring")
    async with SimulatorServer(api_key=KEY) as simulator, replicas(database_url, 2) as (a, b):
        for project in PROJECTS:
            await KeyRing(settings(OLD), a).add(
                "", project, SecretStr(KEY), role="admin", user="U1"
            )
        before = {row.project_id: row.sealed for row in await a.sealed_keys()}
        given = settings(NEW, OLD, ei_api_url=simulator.url)
        ring_a, ring_b = KeyRing(given, a), KeyRing(given, b)
        transport = default_transport()
        polls_a = tuner_client(given, transport, ring_a.api_key_for)
        polls_b = tuner_client(given, transport, ring_b.api_key_for)
        try:
            await ring_b.refresh(reseal=False)  # B read the rows still under the old secret
            assert ring_b.previous == set(PROJECTS)
            # A and B re-seal at once while B polls with what it read: no gap.
            await asyncio.gather(
                ring_a.refresh(),
                ring_b.refresh(),
                *(polls_b.get_state(p) for p in PROJECTS),
            )
            for ring, polls in ((ring_a, polls_a), (ring_b, polls_b)):
                await ring.refresh()
                assert ring.previous == frozenset() and ring.unreadable == frozenset()
                for project in PROJECTS:
                    await polls.get_state(project)  # the simulator refuses any other key
            old_alone = KeyRing(settings(OLD), a)
            assert await old_alone.refresh(say=False) == set(PROJECTS)
            with pytest.raises(StoredKeyUnreadable):
                old_alone.api_key_for("1")
        finally:
            await transport.aclose()
        after = {row.project_id: row.sealed for row in await b.sealed_keys()}
    assert after.keys() == before.keys() and all(after[p] != before[p] for p in PROJECTS)
    for project in PROJECTS:
        assert KeyBox(NEW).open(project, after[project]).get_secret_value() == KEY
    resealed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("re-sealed")]
    counts = [int(line.split()[1]) for line in resealed]
    assert sum(counts) == len(PROJECTS), resealed  # each row written once, by one replica
    assert KEY not in caplog.text and "o" * 40 not in caplog.text


async def test_check_counts_keys_under_the_previous_secret_and_writes_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/eon-bot.db"
    async with replicas(url, 1) as (store,):
        for project in PROJECTS:
            await KeyRing(settings(OLD), store).add(
                "", project, SecretStr(KEY), role=None, user="U1"
            )
        await KeyRing(settings(STRANGER), store).add("", "4", SecretStr(KEY), role=None, user="U1")
        before = await store.sealed_keys()
    async with world(tmp_path) as w:
        previous = {"secret_key": NEW, "secret_key_previous": OLD}
        code, lines = await w.check(**previous)
        [line] = [row for row in rows(lines, FAIL) if "SECRET_KEY" in row[:20]]
        assert "1 stored Edge Impulse key(s) (project(s) 4)" in line, line
        assert "neither SECRET_KEY nor SECRET_KEY_PREVIOUS" in line, line
        assert "3 still sealed under SECRET_KEY_PREVIOUS" in line, line
        async with replicas(url, 1) as (store,):
            assert await store.sealed_keys() == before  # check only looks
            await store.remove_key(T, "4")
        code, lines = await w.check(**previous)
        [line] = [row for row in rows(lines, PASS) if "SECRET_KEY" in row[:20]]
        assert "3 stored key(s) open; 3 still sealed under SECRET_KEY_PREVIOUS" in line, line
        async with replicas(url, 1) as (store,):
            await KeyRing(settings(NEW, OLD), store).refresh()  # as `eon-bot run` starts
        code, lines = await w.check(**previous)
        [line] = [row for row in rows(lines, PASS) if "SECRET_KEY" in row[:20]]
        assert "none is left under SECRET_KEY_PREVIOUS: it can be removed" in line, line
    text = "\n".join(lines)
    assert KEY not in text and "o" * 40 not in text and "n" * 40 not in text


async def test_status_reads_a_key_under_the_previous_secret_and_writes_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/eon-bot.db"
    async with replicas(url, 1) as (store,):
        await KeyRing(settings(OLD), store).add("", "1", SecretStr(KEY), role=None, user="U1")
        before = await store.sealed_keys()
    async with SimulatorServer(api_key=KEY) as simulator:
        given = settings(NEW, OLD, ei_api_url=simulator.url, database_url=url)
        out, err = io.StringIO(), io.StringIO()
        assert await status("1", settings=given, out=out, err=err) == 0, err.getvalue()
    async with replicas(url, 1) as (store,):
        assert await store.sealed_keys() == before  # a look: `eon-bot run` re-seals
