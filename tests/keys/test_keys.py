"""Keys added with `/eon key`: sealed under SECRET_KEY, stored, and the order a poll takes them
in (stored, then EI_API_KEY_<id>, then EI_API_KEY), against real databases."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot.errors import StoredKeyUnreadable
from bot.keys import KeyBox, KeyRing, mask
from bot.keys.box import Unreadable
from bot.keys.ring import resealed_line, unreadable_line
from bot.settings import Settings
from bot.store import Store

SECRET = SecretStr("s" * 40)
OTHER_SECRET = SecretStr("o" * 40)
KEY = SecretStr("ei_" + "5f3a9c" * 10 + "abcd")


def settings(secret: SecretStr | None = SECRET, **values: object) -> Settings:
    return Settings.given(secret_key=secret, **values)


def test_a_sealed_key_opens_only_under_its_secret_and_its_project() -> None:
    box = KeyBox(SECRET)
    sealed = box.seal("42", KEY)
    assert KEY.get_secret_value() not in sealed
    assert box.open("42", sealed).get_secret_value() == KEY.get_secret_value()
    with pytest.raises(Unreadable, match="^42$"):  # names the project whose key it is
        KeyBox(OTHER_SECRET).open("42", sealed)  # another SECRET_KEY: refused, not garbage
    with pytest.raises(Unreadable, match="^42$"):
        KeyBox(SECRET, OTHER_SECRET).reseal("42", KeyBox(SecretStr("x" * 40)).seal("42", KEY))
    with pytest.raises(Unreadable):
        box.open("43", sealed)  # a row copied onto another project
    with pytest.raises(Unreadable):
        box.open("42", sealed[:-4] + "AAAA")  # damaged
    assert "s" * 40 not in repr(box)


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (KEY.get_secret_value(), "ei_…abcd"),
        ("x" * 20 + "wxyz", "…wxyz"),
        ("x" * 12 + "wxyz", "…wxyz"),  # 16 characters: long enough to show four
        ("x" * 11 + "wxyz", "…"),
        ("short", "…"),
    ],
)
def test_mask_shows_at_most_the_prefix_and_four_characters(key: str, shown: str) -> None:
    assert mask(SecretStr(key)) == shown


# Sealed by this code once: the stored keys of every deployment are such texts, so how the
# key is derived from SECRET_KEY (HKDF's hash, length, salt and info) must never drift.
SEALED_BEFORE = (
    "gAAAAABrFz9Mk9kE84DMHwel30LH0yDXvVZ1J_cEHUZPL-MDWS2Ml8rK3f9LXZDu2Vh5ATzItaqnva0Y04Sddu-bVU"
    "drtCM-cAQAHoFh5VAEwBwNtahh9KA2tyZYr3E40OprKjJziG0naFzK_KpDu5wJHPbEBcQrJmqSbdkhW1Rb111BM2q"
    "VrT0="
)


def test_a_key_sealed_by_an_earlier_version_still_opens() -> None:
    assert KeyBox(SECRET).open("42", SEALED_BEFORE).get_secret_value() == KEY.get_secret_value()
    assert KeyBox(OTHER_SECRET, SECRET).open("42", SEALED_BEFORE) == KEY  # while rotating


def test_a_box_says_which_secrets_it_holds_never_them() -> None:
    assert repr(KeyBox(SECRET)) == "KeyBox(SECRET_KEY=**********)"
    rotating = "KeyBox(SECRET_KEY=**********, SECRET_KEY_PREVIOUS=**********)"
    assert repr(KeyBox(SECRET, OTHER_SECRET)) == rotating


def test_secret_key_must_be_long_and_empty_is_unset() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        Settings.given(secret_key=SecretStr("short"))
    assert Settings.given(secret_key="").secret_key is None
    assert "s" * 40 not in repr(Settings.given(secret_key="s" * 40))


async def test_the_stored_key_comes_first_then_the_projects_then_the_default(store: Store) -> None:
    env = {"7": SecretStr("ei_env_seven_key_0000")}
    ring = KeyRing(settings(project_keys=env, ei_api_key=SecretStr("ei_default_key_000")), store)
    await ring.refresh()
    assert ring.api_key_for("7") == env["7"] and ring.source("", "7") == "environment"
    assert ring.source("", "8") == "default"
    await ring.add("", "7", KEY, role="admin", user="U1")
    assert ring.api_key_for("7") == KEY and ring.source("", "7") == "stored"
    row = ring.row("", "7")
    assert row is not None and row.role == "admin" and row.added_by == "U1"
    rotated = SecretStr("ei_" + "0" * 60 + "9999")
    await ring.add("", "7", rotated, role="readonly", user="U2")  # submitting again replaces it
    assert ring.api_key_for("7") == rotated
    assert await ring.remove("", "7") and ring.source("", "7") == "environment"
    assert not await ring.remove("", "7")
    assert KeyRing(settings(), store).source("", "9") == "none"


async def test_a_workspace_that_left_has_its_key_kept_but_not_used(store: Store) -> None:
    """A departed workspace's key is not what polls read with, nor makes it a reader; another
    workspace's key stands in. It comes back with the workspace."""
    from tests.store.test_installations import row

    other = SecretStr("ei_" + "b" * 60)
    ring = KeyRing(settings(), store)
    for team in ("T0A", "T0B"):
        await store.put_installation(row(team))
    await ring.add("T0A", "7", KEY, role="admin", user="UA")  # the earliest: the poll's
    await ring.add("T0B", "7", other, role="admin", user="UB")
    assert ring.api_key_for("7") == KEY and ring.readers("7") == {"T0A", "T0B"}
    await store.revoke_installation("T0A")
    await ring.refresh()
    assert ring.api_key_for("7") == other and ring.readers("7") == {"T0B"}
    assert ring.poll_source("7") == "stored"
    assert await ring.remove("T0B", "7")
    assert ring.readers("7") is None and ring.poll_source("7") == "none"
    assert ring.api_key_for("7") is None  # only the departed one's is stored: none is used
    await store.put_installation(row("T0A", sealed="sealed-2"))
    await ring.refresh()
    assert ring.api_key_for("7") == KEY and ring.readers("7") == {"T0A"}


async def test_the_key_is_not_in_the_database_in_plain_text(store: Store) -> None:
    ring = KeyRing(settings(), store)
    await ring.add("", "42", KEY, role="admin", user="U1")
    async with store.backend.read() as conn:
        rows = (await conn.execute(text("SELECT * FROM ei_keys"))).all()
    assert len(rows) == 1 and all(KEY.get_secret_value() not in str(v) for v in rows[0])


async def test_a_key_added_through_one_replica_reaches_another_on_refresh(
    postgres_url: str,
) -> None:
    one, two = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        first, second = KeyRing(settings(), one), KeyRing(settings(), two)
        await second.refresh()
        await first.add("", "42", KEY, role="admin", user="U1")
        assert second.api_key_for("42") is None
        await second.refresh()
        assert second.api_key_for("42") == KEY
        await first.remove("", "42")
        await second.refresh()
        assert second.api_key_for("42") is None
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize("secret", [OTHER_SECRET, None])
async def test_a_key_stored_under_another_secret_is_never_sent(
    store: Store, secret: SecretStr | None, caplog: pytest.LogCaptureFixture
) -> None:
    await KeyRing(settings(), store).add("", "42", KEY, role="admin", user="U1")
    ring = KeyRing(settings(secret, ei_api_key=SecretStr("ei_default_key_000")), store)
    with caplog.at_level(logging.ERROR, logger="bot.keys.ring"):
        assert await ring.refresh() == {"42"}
        await ring.refresh()  # said once, not at every refresh
    assert ring.source("", "42") == "unreadable"
    with pytest.raises(StoredKeyUnreadable, match="/eon key 42"):
        ring.api_key_for("42")  # neither garbage nor the default key stands in
    why = "stored under another SECRET_KEY" if secret is not None else "SECRET_KEY is not set"
    with pytest.raises(StoredKeyUnreadable, match=why):
        ring.api_key_for("42")  # neither garbage nor the default key stands in
    assert ring.api_key_for("43") is not None  # other projects are unaffected
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "project(s) 42" in said[0] and "\n" not in said[0]
    assert ("another SECRET_KEY" in said[0]) == (secret is not None)


def test_sqlite_file_holds_no_key(tmp_path: Path) -> None:
    """The bytes on disk, WAL included (checked by the e2e test too, through the process)."""
    import asyncio

    async def go() -> None:
        store = await Store.open(f"sqlite:///{tmp_path / 'k.db'}")
        try:
            await KeyRing(settings(), store).add("", "42", KEY, role="admin", user="U1")
        finally:
            await store.close()

    asyncio.run(go())
    for path in tmp_path.iterdir():
        assert KEY.get_secret_value().encode() not in path.read_bytes(), path


async def test_the_home_tab_sees_a_stored_key_masked(store: Store) -> None:
    ring = KeyRing(settings(), store)
    await ring.add("", "42", KEY, role="admin", user="U1")
    assert ring.masked("", "42") == "ei_…abcd"
    assert ring.masked("", "43") is None


class Condition:
    """Records what the database's condition is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []

    def failed(self, doing: str, error: object, key: str = "") -> None:
        self.told.append((doing, error))


class Failing:
    """The store, whose first two reads of the keys fail: the database away, then a bug."""

    def __init__(self, store: Store) -> None:
        self._store, self.reads, self.third = store, 0, asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def sealed_keys(self) -> Any:
        self.reads += 1
        if self.reads == 1:
            raise ConnectionRefusedError("database away")
        if self.reads == 2:
            raise KeyError("a bug")
        self.third.set()
        return await self._store.sealed_keys()


async def test_a_failed_refresh_is_told_by_kind_and_the_next_one_comes(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    failing, database = Failing(store), Condition()
    ring = KeyRing(settings(), failing, database=database)  # type: ignore[arg-type]
    runner = asyncio.create_task(ring.run(every=0.0))
    try:
        await asyncio.wait_for(failing.third.wait(), 30.0)  # a hang guard
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    [(doing, error)] = database.told
    assert doing == "reading the stored Edge Impulse keys"
    assert isinstance(error, ConnectionRefusedError)
    [bug] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bug.getMessage() == "reading the stored Edge Impulse keys failed unexpectedly"
    assert bug.exc_info is not None and bug.exc_info[0] is KeyError


IDS = [str(i) for i in range(1, 12)]
FIX = (
    "their projects are not polled until SECRET_KEY is the one they were stored with, or their "
    "keys are added again with /eon key PROJECT_ID"
)


# Each line is made inside the test (a table's values are made once, at collection).
LINES = {
    "re-sealed, 11": "re-sealed 11 stored Edge Impulse key(s) (project(s) 1, 2, 3, 4, 5, 6, 7, "
    "8, 9, 10 …) under SECRET_KEY; SECRET_KEY_PREVIOUS can go once `eon-bot check` finds none "
    "left under it",
    "re-sealed, 10": "re-sealed 10 stored Edge Impulse key(s) (project(s) 1, 2, 3, 4, 5, 6, 7, "
    "8, 9, 10) under SECRET_KEY; SECRET_KEY_PREVIOUS can go once `eon-bot check` finds none "
    "left under it",
    "another secret, 11": "11 stored Edge Impulse key(s) (project(s) 1, 2, 3, 4, 5, 6, 7, 8, 9, "
    f"10 …) cannot be decrypted: they were stored under another SECRET_KEY; {FIX}",
    "no secret, 10": "10 stored Edge Impulse key(s) (project(s) 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) "
    f"cannot be decrypted: they need SECRET_KEY, unset; {FIX}",
    "rotating, 1": "1 stored Edge Impulse key(s) (project(s) 7) cannot be decrypted: they open "
    f"under neither SECRET_KEY nor SECRET_KEY_PREVIOUS; {FIX}",
}


@pytest.mark.parametrize("case", list(LINES))
def test_the_keys_lines_name_at_most_ten_projects_and_the_fix(case: str) -> None:
    made = {
        "re-sealed, 11": lambda: resealed_line(IDS),
        "re-sealed, 10": lambda: resealed_line(IDS[:10]),
        "another secret, 11": lambda: unreadable_line(IDS, secret_key_set=True),
        "no secret, 10": lambda: unreadable_line(IDS[:10], secret_key_set=False),
        "rotating, 1": lambda: unreadable_line(["7"], secret_key_set=True, rotating=True),
    }[case]
    assert made() == LINES[case]


async def test_a_ring_before_its_first_read_knows_no_key_and_without_a_secret_stores_none(
    store: Store,
) -> None:
    ring = KeyRing(settings(), store)
    assert (ring.row("", "42"), ring.masked("", "42"), ring.previous) == (None, None, frozenset())
    without = KeyRing(settings(None), store)
    with pytest.raises(RuntimeError, match="^no SECRET_KEY: keys cannot be stored$"):
        await without.add("", "42", KEY, role="admin", user="U1")


async def test_a_look_that_does_not_reseal_keeps_saying_which_keys_are_under_the_old_secret(
    store: Store,
) -> None:
    await KeyRing(settings(OTHER_SECRET), store).add("", "42", KEY, role="admin", user="U1")
    ring = KeyRing(settings(SECRET, secret_key_previous=OTHER_SECRET), store)
    for _ in range(2):  # the second look too, though the key it opened is kept
        await ring.refresh(reseal=False)
        assert ring.previous == {"42"} and ring.api_key_for("42") == KEY


async def test_a_key_that_opens_under_neither_secret_is_said_so(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await KeyRing(settings(SecretStr("x" * 40)), store).add("", "42", KEY, role="admin", user="U1")
    ring = KeyRing(settings(SECRET, secret_key_previous=OTHER_SECRET), store)
    with caplog.at_level(logging.ERROR, logger="bot.keys.ring"):
        await ring.refresh()
    said = [r.getMessage() for r in caplog.records if r.name == "bot.keys.ring"]
    assert said == [unreadable_line(["42"], secret_key_set=True, rotating=True)]
