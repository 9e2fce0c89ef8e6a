"""The import-linter contracts in pyproject.toml cover the whole product: a module added to
`bot` is either listed in the "product without sandbox" contract or is the sandbox."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import bot

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def contract(contract_id: str) -> dict[str, object]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    [found] = [c for c in config["contracts"] if c["id"] == contract_id]
    return dict(found)


def test_every_product_module_is_kept_from_the_sandbox() -> None:
    top_level = {f"bot.{module.name}" for module in pkgutil.iter_modules(bot.__path__)}
    listed = set(contract("product-without-sandbox")["source_modules"])  # type: ignore[arg-type]
    assert top_level - {"bot.sandbox"} == listed


def test_the_pure_core_forbids_every_io_library_the_bot_depends_on() -> None:
    forbidden = set(contract("pure-core")["forbidden_modules"])  # type: ignore[arg-type]
    assert {"httpx", "aiohttp", "sqlalchemy", "slack_sdk", "slack_bolt", "apscheduler"} <= forbidden
    assert {"asyncpg", "bot.store", "bot.slack"} <= forbidden


def test_the_rooms_contract_places_every_room_of_bot() -> None:
    """A new room is placed in a layer of the "rooms" contract (pyproject.toml), so the order of
    the rooms stays stated rather than remembered. The tuner room straddles the core, so its
    modules are placed one by one; a new one left out is only unconstrained."""
    layers: list[str] = contract("rooms")["layers"]  # type: ignore[assignment]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    top_level = {f"bot.{module.name}" for module in pkgutil.iter_modules(bot.__path__)}
    missing = top_level - {"bot.tuner"} - named
    assert not missing, f"place {sorted(missing)} in a layer of the rooms contract"
    assert {"bot.tuner.client", "bot.tuner.models"} <= named


def test_the_service_contract_places_every_module_of_the_service() -> None:
    """A module added to `bot.service` takes its place in the "service" layers contract, so what
    assembles what inside the service stays stated."""
    import bot.service

    layers: list[str] = contract("service")["layers"]  # type: ignore[assignment]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    modules = {module.name for module in pkgutil.iter_modules(bot.service.__path__)}
    assert modules == named, f"place {sorted(modules - named)} in the service contract"
