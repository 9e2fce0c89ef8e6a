"""The files a deployment needs, shipped inside the package so an installed wheel has them:
the Slack app manifests (HTTP and Socket Mode) and the example environment file.
`eon-bot manifest` prints them; a source checkout also has them under `config/`."""

from __future__ import annotations

from importlib.resources import files

HTTP_MANIFEST = "slack-manifest.yaml"
SOCKET_MODE_MANIFEST = "slack-manifest-socket-mode.yaml"
ENV_EXAMPLE = "eon-bot.env.example"


def read(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
