"""The simulator's project info: `GET /v1/api/{projectId}` (the official client's
`ProjectsApi.get_project_info`, a `ProjectInfoResponse`), whose `project.name` the bot reads
(`bot.tuner.project_info`). Each project has a realistic name (`project_name`); tests rename
one, or make the route refuse (403, as for a key that may not read it), through
`app[PROJECT_INFO]`, and count how often it was asked.

The document has every field the official model requires, so its parser accepts it; the
figures in it are placeholders (an empty dataset), not a simulation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from bot.sandbox.simulator.faults import JSON_HEADERS, error_body

# Kinds of projects people tune with the EON Tuner; project N is named by the Nth (cycling).
NAMES: Final = (
    "Keyword spotting",
    "Gesture recognition",
    "Machine vibration anomalies",
    "Coffee machine sounds",
    "Person detection",
    "Fall detection",
    "Glass break detection",
    "Air quality sensing",
)
_EPOCH: Final = "2024-03-01T09:00:00.000Z"
_EMPTY_DATA: Final = {"totalLengthMs": 0, "labels": [], "dataCount": 0, "totalLabels": 0}


def project_name(project_id: str) -> str:
    """The simulated project's name: project 1 is "Keyword spotting", and so on."""
    return NAMES[(int(project_id) - 1) % len(NAMES)]


class ProjectInfos:
    """What the project info route says; tests rename or refuse a project (`app[PROJECT_INFO]`)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.refused: set[str] = set()
        self.requests: Counter[str] = Counter()

    def name(self, project_id: str) -> str:
        return self.names.get(project_id, project_name(project_id))


PROJECT_INFO: Final = web.AppKey("eon_simulator_project_info", ProjectInfos)


def project_info(project_id: str, name: str) -> dict[str, Any]:
    """A `ProjectInfoResponse` for the project (the required fields, with placeholders)."""
    project = {
        "id": int(project_id), "name": name, "description": "", "created": _EPOCH,
        "owner": "EON Tuner simulator", "ownerIsDeveloperProfile": False, "collaborators": [],
        "labelingMethod": "single_label", "metadata": {}, "isEnterpriseProject": False,
        "whitelabelId": None, "tier": "free", "hasPublicVersion": False, "isPublic": False,
        "allowsLivePublicAccess": False, "indPauseProcessingSamples": False,
        "publicProjectListed": False,
    }  # fmt: skip
    categories = ("training", "testing", "validation", "anomaly", "postProcessing")
    return {
        "success": True, "project": project, "developmentKeys": {},
        "impulse": {"created": False, "configured": False, "complete": False},
        "devices": [], "dataSummary": _EMPTY_DATA,
        "dataSummaryPerCategory": dict.fromkeys(categories, _EMPTY_DATA),
        "computeTime": {
            "periodStartDate": _EPOCH, "periodEndDate": _EPOCH, "timeUsedMs": 0, "timeLeftMs": 0,
        },
        "acquisitionSettings": {
            "intervalMs": 16, "lengthMs": 1000, "segmentShift": False, "defaultPageSize": 50,
            "viewType": "list", "gridColumnCount": 3, "gridColumnCountDetailed": 1,
            "showExactSampleLength": False, "inlineEditBoundingBoxes": False,
        },
        "collaborators": [],
        "deploySettings": {
            "eonCompiler": True, "sensor": "microphone", "arduinoLibraryName": "sim",
            "tinkergenLibraryName": "sim", "particleLibraryName": "sim",
        },
        "experiments": [], "latencyDevices": [], "urls": {}, "showCreateFirstImpulse": False,
        "showGettingStartedWizard": {"showWizard": False, "step": 1},
        "performance": {
            "gpu": False, "jobLimitM": 60, "dspFileSizeMb": 100, "enableDeployment": True,
            "enterprisePerformance": False, "trainJobRamMb": 4096,
        },
        "trainJobNotificationUids": [], "dspJobNotificationUids": [],
        "modelTestingJobNotificationUids": [], "exportJobNotificationUids": [],
        "hasNewTrainingData": False,
        "studioUrl": f"https://studio.edgeimpulse.com/studio/{int(project_id)}",
        "inPretrainedModelFlow": False, "showSensorDataInAcquisitionGraph": False,
        "notifications": [],
    }  # fmt: skip


def install(app: web.Application, canonical: Callable[[str], str | None]) -> None:
    """The route and its state on the simulator's app; `canonical` turns an id into the
    project's key, or None for an id that names no project (a 404)."""
    infos = app[PROJECT_INFO] = ProjectInfos()

    async def info(request: web.Request) -> web.Response:
        key = canonical(request.match_info["projectId"])
        if key is None:
            body = error_body("Project not found: the id must be a positive number")
            return web.Response(status=404, body=body, headers=dict(JSON_HEADERS))
        infos.requests[key] += 1
        if key in infos.refused:
            body = error_body("This API key may not read the project's information")
            return web.Response(status=403, body=body, headers=dict(JSON_HEADERS))
        return web.json_response(project_info(key, infos.name(key)))

    app.router.add_get("/v1/api/{projectId}", info)
