"""Settings built in code (`Settings.given`) see only what they are given; `Settings()` reads the
environment and `.env`, as `eon-bot run` needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.errors import ConfigError
from bot.settings import Settings, load_settings

EXPORTED = {
    "ADMIN_USER_IDS": "U0BOSS",
    "EI_API_KEY": "ei_exported_default_key",
    "EI_API_KEY_7": "ei_exported_project_key",
    "POLL_INTERVAL": "99",
}


@pytest.fixture
def developer_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell with variables exported and a `.env` in the working folder."""
    for name, value in EXPORTED.items():
        monkeypatch.setenv(name, value)
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nEI_API_KEY_8=ei_dotenv_key\n")
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("developer_shell")
def test_the_environment_and_dotenv_are_read_by_default() -> None:
    """The control: without it, the test below could pass by reading nothing at all."""
    loaded = Settings()
    assert loaded.admin_user_ids == {"U0BOSS"}
    assert loaded.poll_interval == 99
    assert set(loaded.project_keys) == {"7", "8"}
    assert loaded.slack_bot_token == SecretStr("xoxb-from-dotenv")


@pytest.mark.usefixtures("developer_shell")
def test_given_settings_read_no_environment_and_no_dotenv() -> None:
    given = Settings.given(port=0)
    assert given.admin_user_ids == frozenset()
    assert given.ei_api_key is None and given.project_keys == {}
    assert given.poll_interval == 15 and given.slack_bot_token is None
    assert given.port == 0


@pytest.mark.usefixtures("developer_shell")
def test_given_values_are_validated_and_the_environment_is_read_again_after() -> None:
    given = Settings.given(admin_user_ids="U1, U2", project_keys={"5": "ei_given_key"})
    assert given.admin_user_ids == {"U1", "U2"}
    assert given.api_key_for("5") == SecretStr("ei_given_key")
    assert given.api_key_for("7") is None
    assert Settings().admin_user_ids == {"U0BOSS"}  # the switch is off again


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({}, ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]),
        ({"slack_signing_secret": "s"}, ["SLACK_BOT_TOKEN"]),
        ({"slack_bot_token": "xoxb-1"}, ["SLACK_SIGNING_SECRET"]),
        ({"slack_bot_token": "xoxb-1", "slack_app_token": "xapp-1"}, []),
    ],
)
def test_what_run_lacks_is_told_at_once_the_bot_token_first(
    values: dict[str, str], named: list[str]
) -> None:
    from bot.settings import missing_for_run

    missing = missing_for_run(Settings.given(**values))
    assert [line.split()[0] for line in missing] == named


@pytest.mark.parametrize("given", ["U0BOSS, bad", "u0boss", "U0BOSS;U1", "@alice"])
def test_an_admin_list_that_holds_no_slack_user_id_is_refused_naming_it(given: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(admin_user_ids=given)
    assert "ADMIN_USER_IDS" in str(refused.value) and "is not a Slack user id" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_workspace_and_org_user_ids_are_admins() -> None:
    assert Settings.given(admin_user_ids="U0BOSS,W0ORGUSER").admin_user_ids == {
        "U0BOSS",
        "W0ORGUSER",
    }


def test_edge_impulse_keys_from_the_environment_are_trimmed_or_refused_by_their_shape() -> None:
    """A key pasted into a `.env` gets what the key form's does (`bot.key_shape`)."""
    from bot.settings import settings_problem

    pasted = Settings.given(ei_api_key="\u00a0ei_k\u200b\n", project_keys={"5": " ei_p\ufeff"})
    assert pasted.ei_api_key == SecretStr("ei_k")
    assert pasted.project_keys == {"5": SecretStr("ei_p")}
    assert Settings.given(ei_api_key=" \u200b").ei_api_key is None
    for values in ({"ei_api_key": "ei_se\ncret"}, {"project_keys": {"5": "ei_seécret"}}):
        with pytest.raises(ValidationError) as caught:
            Settings.given(**values)
        said = settings_problem(caught.value)
        assert "at character 6 of" in said and "se" + "cret" not in said, said
