"""Project API keys as Edge Impulse has them: each belongs to one project and has a role, and
`GET /v1/api/projects/api-key-info` answers for the key it is called with, in the official
`GetCurrentApiKeyInfoResponse` shape (`success`, `apiKeyId`, `projectId`, `role`).

A project key opens only its own project's routes. The server's single `api_key` (`--api-key`)
stays what it was, a key for every project; it is no project's key, so api-key-info answers
it as Edge Impulse answers a key that is not a project key (400, success false).
"""

from __future__ import annotations

import hmac
import itertools
from dataclasses import dataclass
from typing import Final

from aiohttp import web


@dataclass(frozen=True, slots=True)
class ProjectKey:
    project_id: str
    role: str
    api_key_id: int


class ProjectKeys:
    """The keys issued per project; tests add and revoke them (`app[PROJECT_KEYS]`)."""

    def __init__(self) -> None:
        self._keys: dict[str, ProjectKey] = {}
        self._ids = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def add(self, key: str, project_id: str | int, *, role: str = "admin") -> None:
        self._keys[key] = ProjectKey(str(project_id), role, next(self._ids))

    def revoke(self, key: str) -> None:
        self._keys.pop(key, None)

    def owner(self, given: str) -> ProjectKey | None:
        """The project key `given` is, compared in constant time."""
        found = None
        for key, project in self._keys.items():
            if hmac.compare_digest(given.encode(), key.encode()):
                found = project
        return found

    def opens(self, given: str, project_id: str | None) -> bool:
        """Whether `given` is a project key good for this route (its project's, or api-key-info)."""
        owner = self.owner(given)
        return owner is not None and (project_id is None or owner.project_id == project_id)


PROJECT_KEYS: Final = web.AppKey("eon_simulator_project_keys", ProjectKeys)


async def _key_info(request: web.Request) -> web.Response:
    owner = request.app[PROJECT_KEYS].owner(request.headers.get("x-api-key", ""))
    if owner is None:
        return web.json_response(
            {
                "success": False,
                "error": "Only available when authenticating with a project API key",
            },
            status=400,
        )
    body = {
        "success": True,
        "apiKeyId": owner.api_key_id,
        "projectId": int(owner.project_id),
        "role": owner.role,
    }
    return web.json_response(body)


def install(app: web.Application) -> None:
    """The keys and their route, on the simulator's app."""
    app[PROJECT_KEYS] = ProjectKeys()
    app.router.add_get("/v1/api/projects/api-key-info", _key_info)
