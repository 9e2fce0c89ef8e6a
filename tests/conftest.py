"""Shared fixtures. Database: every test gets an empty database of each kind.

PostgreSQL runs where `TEST_POSTGRES_URL` names one (e.g.
`postgresql://postgres@127.0.0.1:5432/test`); each test gets its own schema there, created and
dropped around it, so tests (and parallel runs) never see each other's rows. Without the
variable the PostgreSQL cases are skipped, except under `CI=true`, where they must run.

Workers: `-n auto` starts two per core (`pytest_xdist_auto_num_workers`). Order: the slow tests
(`e2e`, `slow`) run first. Each xdist worker takes the next test as it frees up
(`--maxschedchunk`, pyproject.toml), so the long ones start early and the many short ones even
out the end, instead of one worker finishing a two-minute test alone while the others idle.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from bot.store import Store
from tests.workspace_sql import watching

WORKERS_PER_CORE = 3


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the README's test command): three workers per core. The suite waits more than
    it computes (the end-to-end tests step a simulated run poll by poll, 0.1 s apart, and wait on
    processes and sockets): at one worker per core the two cores stayed half idle (docs/
    performance.md: 530 s of CPU in 631 s on 2 cores); on 2 cores, 2,263 tests took 402 s with
    4 workers, 362 and 371 s with 6, 471 s with 8 (more CPU: contention).
    PYTEST_XDIST_AUTO_NUM_WORKERS still overrides it, as pytest-xdist documents."""
    if chosen := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(chosen)
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (see the module's docstring); otherwise the collection's order."""

    def quick(item: pytest.Item) -> bool:
        return not any(item.get_closest_marker(name) for name in ("e2e", "slow"))

    items.sort(key=quick)  # stable: False (slow) before True, each in collection order


@asynccontextmanager
async def _postgres_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL whose tables land in a schema of their own, dropped afterwards."""
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_POSTGRES_URL not set, and CI must run the PostgreSQL tests")
        pytest.skip("TEST_POSTGRES_URL not set")
    schema = f"eon_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        # Unknown query options reach PostgreSQL as settings: this puts the tables in `schema`.
        yield f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'eon-bot.db'}"
        return
    async with _postgres_schema() as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """For what only PostgreSQL serves (replicas sharing one database): no SQLite variant."""
    async with _postgres_schema() as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


# Every test that uses a store in-process also checks that each query the store makes on a
# per-workspace table names the workspace (`tests.workspace_sql`, DESIGN33 point 6): the
# suite's uses of the store are the queries' examples.
@pytest.fixture(autouse=True)
def every_query_names_its_workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with watching(monkeypatch) as found:
        yield
    shown = "\n".join(f"{method}: {statement[:300]}" for method, statement in found[:5])
    assert not found, f"{len(found)} store statement(s) name no workspace:\n{shown}"
