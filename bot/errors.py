"""Every error eon-bot raises on purpose, so callers can catch by meaning.

    EonBotError
    ├── ConfigError                    settings missing or malformed
    └── TunerApiError(project_id)      the Edge Impulse tuner state could not be had
        ├── TunerAuthError             401/403: the API key is wrong, revoked or lacks access
        ├── TunerNotFound              404: no such project (or not visible to this key)
        ├── TunerUnavailable           connection refused, timeout, 5xx, 429 after retries
        └── TunerBadResponse           not JSON, `success: false`, or not the expected shape

Messages are built here, with what a user needs to act, and never contain an API key.
"""

from __future__ import annotations


class EonBotError(Exception):
    """Base of every error eon-bot raises on purpose."""


class ConfigError(EonBotError):
    """A setting is missing or malformed."""


class TunerApiError(EonBotError):
    def __init__(self, project_id: str, detail: str, status: int | None = None) -> None:
        self.project_id = project_id
        self.detail = detail
        self.status = status
        super().__init__(f"project {project_id}: {detail}")


class TunerAuthError(TunerApiError):
    def __init__(self, project_id: str, status: int) -> None:
        super().__init__(
            project_id,
            f"Edge Impulse refused the API key (HTTP {status}). Check EI_API_KEY_{project_id} "
            "or EI_API_KEY: the key may be wrong, revoked, or for another project.",
            status,
        )


class TunerNotFound(TunerApiError):
    def __init__(self, project_id: str) -> None:
        super().__init__(
            project_id,
            "Edge Impulse has no such project (HTTP 404). Check the project id in the "
            "Studio URL (studio.edgeimpulse.com/studio/<id>) and that the key belongs to it.",
            404,
        )


class TunerUnavailable(TunerApiError):
    def __init__(self, project_id: str, reason: str, status: int | None = None) -> None:
        super().__init__(
            project_id, f"Edge Impulse is unreachable ({reason}); will keep trying.", status
        )


class TunerBadResponse(TunerApiError):
    def __init__(self, project_id: str, reason: str, status: int | None = None) -> None:
        super().__init__(project_id, f"Edge Impulse's answer was not understood: {reason}", status)
