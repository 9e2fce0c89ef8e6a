"""The files a deployment needs: shipped in the package, and saying what the code needs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot import config
from bot.slack.auth import REQUIRED_SCOPES
from bot.slack.listeners.eon_parse import USAGE


def _manifest(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load(config.read(name))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("name", [config.HTTP_MANIFEST, config.SOCKET_MODE_MANIFEST])
def test_each_manifest_grants_exactly_the_scopes_the_bot_needs(name: str) -> None:
    manifest = _manifest(name)
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(REQUIRED_SCOPES)
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/eon"]


@pytest.mark.parametrize("name", [config.HTTP_MANIFEST, config.SOCKET_MODE_MANIFEST])
def test_each_manifest_declares_the_home_tab_and_interactivity(name: str) -> None:
    manifest = _manifest(name)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "key PROJECT_ID" in manifest["features"]["slash_commands"][0]["usage_hint"]


def test_the_socket_mode_manifest_has_no_public_url() -> None:
    manifest = _manifest(config.SOCKET_MODE_MANIFEST)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "YOUR-HOST" not in config.read(config.SOCKET_MODE_MANIFEST)
    http = _manifest(config.HTTP_MANIFEST)
    assert http["settings"]["socket_mode_enabled"] is False
    assert (
        http["settings"]["event_subscriptions"]["bot_events"]
        == (manifest["settings"]["event_subscriptions"]["bot_events"])
    )


def test_the_env_example_names_every_setting_a_deployment_sets() -> None:
    text = config.read(config.ENV_EXAMPLE)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "EI_API_KEY"):
        assert name in text


def test_both_manifests_declare_interactivity_for_the_run_buttons() -> None:
    http = _manifest(config.HTTP_MANIFEST)["settings"]["interactivity"]
    assert http == {"is_enabled": True, "request_url": "https://YOUR-HOST/slack/events"}
    socket = _manifest(config.SOCKET_MODE_MANIFEST)["settings"]["interactivity"]
    assert socket == {"is_enabled": True}  # Slack sends the clicks over the socket


@pytest.mark.parametrize("name", [config.HTTP_MANIFEST, config.SOCKET_MODE_MANIFEST])
def test_each_manifests_usage_hint_is_the_commands_own_usage(name: str) -> None:
    """Slack shows the hint as the user types `/eon`: every subcommand, as `/eon help` says."""
    hint = _manifest(name)["features"]["slash_commands"][0]["usage_hint"]
    parts = [part.strip() for part in hint.split(" | ")]
    assert sorted(parts) == sorted(usage.removeprefix("/eon ") for usage in USAGE.values())


@pytest.mark.parametrize("name", [config.HTTP_MANIFEST, config.SOCKET_MODE_MANIFEST])
def test_each_manifests_command_fits_what_slack_accepts(name: str) -> None:
    """slackapi/manifest-schema: a slash command's usage_hint is at most 1,000 characters, its
    description 2,000; the hint grows with every subcommand."""
    (command,) = _manifest(name)["features"]["slash_commands"]
    assert len(command["usage_hint"]) <= 1000
    assert len(command["description"]) <= 2000
