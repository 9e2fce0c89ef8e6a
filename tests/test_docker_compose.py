"""The image and the compose file run what the README documents, on the port that serves
`/healthz` and `/metrics`; `docker compose config` validates the compose file where the
compose plugin exists. No Docker engine runs here, so nothing is built or started."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose_cli() -> list[str] | None:
    """`docker compose` if the docker CLI has the compose plugin (it needs no engine for
    `config`), else None."""
    if shutil.which("docker") is None:
        return None
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    return ["docker", "compose"] if probe.returncode == 0 else None


@pytest.mark.skipif(
    _compose_cli() is None,
    reason="no `docker compose` here (the docker CLI has no compose plugin; Debian's "
    "docker-compose 1.29 predates the `env_file: {path, required}` syntax compose.yaml uses)",
)
def test_docker_compose_config_validates(tmp_path: Path) -> None:
    cli = _compose_cli()
    assert cli is not None
    done = subprocess.run(
        [*cli, "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no .env here: the file says it is optional
    )
    assert done.returncode == 0, done.stderr


def test_the_image_compose_and_procfile_run_the_command_the_readme_documents() -> None:
    readme = (ROOT / "README.md").read_text()
    docker = readme.split("- **Docker**:", 1)[1].split("\n- **", 1)[0]
    assert "runs `eon-bot run`" in " ".join(docker.split()), docker
    assert "the `Procfile` runs `web: eon-bot run`" in readme
    cmd = re.search(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd is not None and cmd.group(1) == '["eon-bot", "run"]'
    assert (ROOT / "Procfile").read_text().strip() == "web: eon-bot run"
    bot = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["bot"]
    assert "command" not in bot and "entrypoint" not in bot  # the image's CMD, as documented


def test_compose_publishes_the_port_that_serves_healthz_and_metrics() -> None:
    bot = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["bot"]
    port = bot["environment"]["PORT"]
    assert f"{port}:{port}" in bot["ports"]
    expose = re.search(r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert expose is not None and expose.group(1) == port
