"""What a deployment is built from: the Dockerfile, compose.yaml, the Python version, the pins
Heroku's buildpack installs, and the files an installed wheel must carry. No Docker engine runs
here, so the Dockerfile is linted (hadolint) and read, not built."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from bot import config
from bot.store import migrations

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_python_version_is_one_and_the_same_everywhere() -> None:
    wanted = (ROOT / ".python-version").read_text().strip()
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(f"{wanted}.0")
    bases = [rest for word, rest in _instructions() if word == "FROM"]
    assert bases and all(b.startswith(f"python:{wanted}-slim") for b in bases), bases
    assert "python3.11 -m venv" in (ROOT / "README.md").read_text()


def test_the_image_runs_eon_bot_as_a_user_with_a_health_check() -> None:
    steps = _instructions()
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    words = [word for word, _ in final]
    assert words.index("USER") < words.index("CMD")
    health = " ".join(rest for word, rest in final if word == "HEALTHCHECK")
    assert "/healthz" in health and "PORT" in health
    assert dict(final)["CMD"] == '["eon-bot", "run"]'


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed")
def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_the_bot_on_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert db["image"].startswith("postgres:")
    url = bot["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql://") and "@db:5432/" in url
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_heroku_installs_eon_bot_with_pins_that_satisfy_pyproject() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["-c constraints.txt", "."]
    pins = _pins()
    for spec in _pyproject()["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", v) for v in pins.values()), pins


def test_the_procfile_runs_the_service() -> None:
    assert (ROOT / "Procfile").read_text().strip() == "web: eon-bot run"


@pytest.mark.slow
def test_the_wheel_carries_the_manifests_and_the_env_example(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("eon_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (config.HTTP_MANIFEST, config.SOCKET_MODE_MANIFEST, config.ENV_EXAMPLE):
        assert f"bot/config/{name}" in names


def test_the_readme_commands_name_real_markers_and_paths() -> None:
    """The fast command deselects a marker pytest knows, and the Quick start is intact."""
    readme = (ROOT / "README.md").read_text()
    markers = _pyproject()["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("e2e:") for m in markers)
    assert 'python -m pytest -q -m "not e2e"' in readme
    assert "pip install -e . && eon-bot demo" in readme
    assert "pip install -e '.[test]' && python -m pytest" in readme


def test_ci_runs_the_readmes_test_command_after_lint_format_and_types() -> None:
    """The Quick start's test command is, word for word, a line of `.ci/run`, which checks
    lint, format and types (strict, from pyproject) before it, so a red check costs seconds."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"pip install -e '\.\[test\]' && (python -m pytest[^\n`]*)", readme)
    assert found, "the Quick start has no test command"
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert found.group(1).strip() in lines, f"{found.group(1)!r} is not what .ci/run runs"
    tests = lines.index(found.group(1).strip())
    checks = ["ruff check bot tests bench", "ruff format --check bot tests bench", "mypy"]
    for check in [*checks, "lint-imports"]:
        assert check in lines[:tests], f"{check!r} is not run before the tests"
    assert _pyproject()["tool"]["mypy"]["strict"] is True


def test_the_rolling_deploy_note_points_to_the_schema_steps_instead_of_naming_one() -> None:
    """A version number in the README goes stale with the next step; the note names where the
    steps are listed, and that list is whole."""
    readme = (ROOT / "README.md").read_text()
    note = readme[readme.index("- **Rolling deploys**") :].split("\n- **", 1)[0]
    assert "`MIGRATIONS` in `bot/store/migrations.py`" in note
    assert "SELECT version FROM schema_version" in note
    assert re.search(r"\bv\d+\b", note) is None, note
    listed = re.findall(r"^    v(\d+)  ", migrations.__doc__ or "", re.MULTILINE)
    assert listed == [str(n) for n in range(1, migrations.SCHEMA_VERSION + 1)]


def test_ci_installs_each_runtime_dependency_at_its_lowest_allowed_version() -> None:
    """`.ci/run` ends with `.ci/lowest`, whose pins are each dependency's `>=` bound."""
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith(".ci/lowest")
    found = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "lowest_pins.py"), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    wanted = _pyproject()["project"]["dependencies"]
    assert len(found) == len(wanted)
    for line, pin in zip(wanted, found, strict=True):
        requirement = Requirement(line)
        name, _, floor = pin.partition("==")
        assert canonicalize_name(name) == canonicalize_name(requirement.name)
        assert f">={floor}" in {str(spec) for spec in requirement.specifier}
        assert requirement.specifier.contains(floor)
