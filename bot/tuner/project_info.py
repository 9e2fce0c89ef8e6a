"""A project's name, read from Edge Impulse's project info: `GET /api/{projectId}` (the official
client's `ProjectsApi.get_project_info`, a `ProjectInfoResponse` whose `project.name` it is).

Only the name is read; the rest of that large document (collaborators, data summaries,
settings) is ignored, not kept. Any key that may read the tuner may read it too, but a key
that may not (401/403), or any other failure, raises a `TunerApiError` like the state's reads
do, and the caller (`bot.service.names`) keeps saying "project 1".
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.errors import TunerBadResponse
from bot.fmt import one_line
from bot.tuner.client import TunerClient

NAME_CHARS = 200  # Studio's names are short; a longer one is cut before it is stored


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Project(_Lenient):
    name: str


class ProjectInfo(_Lenient):
    success: bool
    project: _Project | None = None


async def fetch_project_name(tuner: TunerClient, project_id: str) -> str:
    """The project's name on one line; a `TunerApiError` when it cannot be had."""
    answer = await tuner.fetch_answer(project_id, "", ProjectInfo, "the project info")
    name = one_line(answer.project.name, NAME_CHARS) if answer.project is not None else ""
    if not name.strip():
        raise TunerBadResponse(project_id, "the project info gives no name", 200)
    return name
