"""One workspace (SLACK_BOT_TOKEN) or many (SLACK_CLIENT_ID + SLACK_CLIENT_SECRET): the modes
are told apart at load, and a mix of them is refused in one line that names the fix."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, load_settings, missing_for_run

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("values", "named", "said"),
    [
        (
            {"slack_bot_token": "xoxb-1", "slack_client_id": "1.2"},
            "SLACK_CLIENT_ID",
            "is set beside SLACK_BOT_TOKEN",
        ),
        (
            {"slack_bot_token": "xoxb-1", "slack_client_secret": "c" * 32},
            "SLACK_CLIENT_SECRET",
            "is set beside SLACK_BOT_TOKEN",
        ),
        (
            {"slack_app_token": "xapp-1", "slack_client_id": "1.2"},
            "SLACK_CLIENT_ID",
            "Socket Mode serves one workspace",
        ),
    ],
)
def test_a_mix_of_the_modes_is_refused_in_one_line(
    values: dict[str, str], named: str, said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, **values)
    line = str(refused.value)
    assert named in line and said in line and "\n" not in line
    assert "c" * 32 not in line  # a secret is never shown


def test_a_bot_token_is_one_workspace_and_a_client_id_many() -> None:
    assert not Settings.given(slack_bot_token="xoxb-1").many_workspaces
    assert Settings.given(slack_client_id="1.2", slack_client_secret="c").many_workspaces


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"slack_client_id": "1.2"}, ["SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "SECRET_KEY"]),
        (
            {"slack_client_secret": "c", "secret_key": SECRET},
            ["SLACK_CLIENT_ID", "SLACK_SIGNING_SECRET"],
        ),
        (
            {"slack_client_id": "1.2", "slack_client_secret": "c", "slack_signing_secret": "x"},
            ["SECRET_KEY"],
        ),
        (
            {
                "slack_client_id": "1.2",
                "slack_client_secret": "c",
                "slack_signing_secret": "x",
                "secret_key": SECRET,
            },
            [],
        ),
    ],
)
def test_many_workspaces_need_the_app_credentials_and_a_secret_key(
    values: dict[str, str], named: list[str]
) -> None:
    missing = missing_for_run(Settings.given(**values))
    assert [line.split()[0] for line in missing] == named
