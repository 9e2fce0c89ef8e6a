"""Settings, loaded once from the environment and a `.env` file (names in `shared/design.md`)."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.errors import ConfigError
from bot.key_shape import clean_key, key_problem
from bot.logs import LEVELS

_PROJECT_KEY = re.compile(r"^EI_API_KEY_(\w+)$", re.IGNORECASE)
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")  # a workspace user (U…) or an org's (W…)
# Set while `Settings.given` builds: the values passed in are then the only source.
_ONLY_GIVEN: ContextVar[bool] = ContextVar("eon_settings_only_given", default=False)


def is_user_id(text: str) -> bool:
    """Whether `text` is a Slack user id (U… in a workspace, W… in an organisation)."""
    return _SLACK_USER_ID.fullmatch(text) is not None


class _ProjectKeysSource(PydanticBaseSettingsSource):
    """Gathers `EI_API_KEY_<projectId>` variables (environment over `.env`) into `project_keys`."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: DotEnvSettingsSource) -> None:
        super().__init__(settings_cls)
        self._dotenv = dotenv

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, str] = {}
        for source in (self._dotenv.env_vars, os.environ):
            for name, value in source.items():
                match = _PROJECT_KEY.match(name)
                if match and value:
                    found[match.group(1)] = value
        return {"project_keys": found} if found else {}


class Settings(BaseSettings):
    # An empty variable (`PORT=`, as a .env template leaves it) means the default.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    # "Add to Slack": with these and no bot token, one eon-bot serves every workspace that
    # installs it (`bot.slack.install`); each workspace's token is stored sealed (SECRET_KEY).
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    @field_validator("slack_client_id", "slack_client_secret")
    @classmethod
    def _one_mode(cls, value: Any, info: ValidationInfo) -> Any:
        """A bot token is one workspace, a client id many: both is a mistake to say at once."""
        if value is None:
            return value
        if info.data.get("slack_bot_token") is not None:
            raise ValueError(
                "is set beside SLACK_BOT_TOKEN: set SLACK_BOT_TOKEN for one workspace, or "
                "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (and no bot token) for many"
            )
        if info.data.get("slack_app_token") is not None:
            raise ValueError(
                "is set beside SLACK_APP_TOKEN: Socket Mode serves one workspace (set "
                "SLACK_BOT_TOKEN); many workspaces need HTTP mode and SLACK_SIGNING_SECRET"
            )
        return value

    @property
    def many_workspaces(self) -> bool:
        """Whether this deployment serves every workspace that installs it ("Add to Slack")."""
        return self.slack_client_id is not None or self.slack_client_secret is not None

    ei_api_url: str = "https://studio.edgeimpulse.com/v1"
    ei_api_key: SecretStr | None = None
    # Edge Impulse answers larger than this are refused with a clear error (never an
    # out-of-memory crash); a 2,000-trial tuner state is about 9 MB.
    ei_max_response_mb: float = Field(default=32.0, gt=0)
    project_keys: dict[str, SecretStr] = Field(default_factory=dict)
    database_url: str = "sqlite:///eon-bot.db"
    poll_interval: float = Field(default=15.0, gt=0)
    # Seconds between whole reads of an idle project's state (`bot.service.tiers`); 0: every
    # poll reads the whole state (no idle tier).
    idle_full_read: float = Field(default=1800.0, ge=0)
    outage_notice_after: float = Field(default=300.0, ge=0)
    stall_after: float = Field(default=1800.0, gt=0)
    port: int = Field(default=3000, ge=0, le=65535)
    retention_days: float = Field(default=30.0, gt=0)
    admin_user_ids: Annotated[frozenset[str], NoDecode] = frozenset()
    # Seals the Edge Impulse keys added with `/eon key` (`bot.keys`); unset: `/eon key` is off.
    secret_key: SecretStr | None = None
    # The secret before the last change of SECRET_KEY: what it sealed still opens, and is
    # re-sealed under SECRET_KEY (`bot.keys.ring`); unset once no stored key needs it.
    secret_key_previous: SecretStr | None = None
    # The time zone of `/eon digest HH:MM` (an IANA name); the workspace's own would need
    # `team.info` and a scope more, and one zone per deployment is what a team expects.
    digest_tz: str = "UTC"

    @field_validator("digest_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(
                "must be an IANA time zone name, such as UTC or Europe/Amsterdam"
            ) from None
        return value

    @field_validator("secret_key", "secret_key_previous", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value  # `SECRET_KEY=` in a .env: not set

    @field_validator("secret_key", "secret_key_previous")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be a long random string (32 characters at least), e.g. from "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
            )
        return value

    @field_validator("secret_key_previous")
    @classmethod
    def _beside_a_current_one(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        unset = "secret_key" in info.data and info.data["secret_key"] is None  # not invalid
        if value is not None and unset:
            raise ValueError(
                "is set but SECRET_KEY is not: set SECRET_KEY to the new secret (the keys are "
                "re-sealed under it), and SECRET_KEY_PREVIOUS to the one they were sealed with"
            )
        return value

    log_level: str = "INFO"  # of `eon-bot run` (bot.logs)
    log_format: Literal["text", "json"] = "text"

    @field_validator("ei_api_key", mode="before")
    @classmethod
    def _default_key_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = clean_key(value)
            if not value:
                return None  # `EI_API_KEY=` in a .env: not set
            problem = key_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("project_keys", mode="before")
    @classmethod
    def _project_key_shapes(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        keys = {}
        for project, key in value.items():
            text = clean_key(key) if isinstance(key, str) else key
            problem = key_problem(text) if isinstance(text, str) else None
            if problem is not None:
                raise ValueError(f"EI_API_KEY_{str(project)[:20]}: {problem}")
            keys[project] = text
        return keys

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            name = value.strip().upper()
            if name not in LEVELS:
                raise ValueError(f"must be one of {', '.join(LEVELS)}")
            return name
        return value

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = frozenset(part.strip() for part in value.split(",") if part.strip())
        for user in value:
            if not is_user_id(user):
                raise ValueError(
                    f"{user[:24]!r} is not a Slack user id (U… or W…: a profile's ⋮ → "
                    "Copy member ID), ids separated by commas"
                )
        return value

    @classmethod
    def given(cls, **values: Any) -> Settings:
        """Settings from `values` and the defaults alone: no environment, no `.env`.

        For settings built in code (the demo, tests): `Settings(_env_file=None, …)` still reads
        `os.environ`, so an exported `ADMIN_USER_IDS` or `EI_API_KEY_<id>` would leak in.
        """
        token = _ONLY_GIVEN.set(True)
        try:
            return cls(**values)
        finally:
            _ONLY_GIVEN.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _ONLY_GIVEN.get():
            return (init_settings,)
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        keys = _ProjectKeysSource(settings_cls, dotenv_settings)
        return init_settings, env_settings, dotenv_settings, keys, file_secret_settings

    def api_key_for(self, project_id: str) -> SecretStr | None:
        """The project's own key (`EI_API_KEY_<id>`) if set, else the default `EI_API_KEY`; a
        key stored with `/eon key` comes before both (`bot.keys.ring.KeyRing.api_key_for`)."""
        return self.project_keys.get(project_id) or self.ei_api_key


def missing_for_run(settings: Settings) -> list[str]:
    """What `eon-bot run` needs and `settings` lack, all of it at once, the bot token first
    (without it nothing works; the signing secret only matters once Slack calls)."""
    if settings.many_workspaces:
        return _missing_for_many(settings)
    missing = []
    if settings.slack_bot_token is None:
        missing.append(
            "SLACK_BOT_TOKEN is not set (the bot token, xoxb-…; or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET for many workspaces)"
        )
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        missing.append(
            "SLACK_SIGNING_SECRET is not set (needed to verify Slack's requests; or set "
            "SLACK_APP_TOKEN for Socket Mode)"
        )
    return missing


def _missing_for_many(settings: Settings) -> list[str]:
    """Many workspaces: the app's credentials, the signing secret (HTTP mode only) and
    SECRET_KEY, which seals each workspace's token."""
    missing = []
    if settings.slack_client_id is None:
        missing.append("SLACK_CLIENT_ID is not set (the app's Client ID, Basic Information)")
    if settings.slack_client_secret is None:
        missing.append("SLACK_CLIENT_SECRET is not set (the app's Client Secret)")
    if settings.slack_signing_secret is None:
        missing.append("SLACK_SIGNING_SECRET is not set (needed to verify Slack's requests)")
    if settings.secret_key is None:
        missing.append("SECRET_KEY is not set (it seals each workspace's bot token)")
    return missing


def load_settings(**overrides: Any) -> Settings:
    """`Settings()` from the environment and `.env`, or one `ConfigError` line naming each bad
    variable and why, without its value (it may be a secret), in place of pydantic's report."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(settings_problem(exc)) from None
    except SettingsError as exc:  # e.g. a .env that cannot be read or parsed
        raise ConfigError(f"invalid settings: {exc}") from None


def settings_problem(exc: ValidationError) -> str:
    """One line naming each bad variable in plain words: "PORT must be a whole number from
    0 to 65535 (got 'abc')". The value is shown only when it cannot be a secret (`_shown`)."""
    problems = []
    for error in exc.errors(include_url=False, include_context=False):
        name = ".".join(str(p) for p in error["loc"]).upper() or "settings"
        field = Settings.model_fields.get(str(error["loc"][0]).lower()) if error["loc"] else None
        if error["type"] in _NUMBER_ERRORS and field is not None:
            said = f"must be {_expected(field)}"
        else:
            said = str(error["msg"]).removeprefix("Value error, ")
        if said.startswith("must"):  # what was given is shown beside what was wanted
            problems.append(f"{name} {said}{_shown(error.get('input'))}")
        else:  # the validator's own sentence, which names what it refused
            problems.append(f"{name}: {said}")
    return "invalid settings: " + "; ".join(problems)


# pydantic's error types that mean "not the number (or choice) this setting takes"; the words
# come from the field's own type and bounds (`_expected`), one rule for every such setting.
_NUMBER_ERRORS = frozenset(
    {
        "int_parsing",
        "int_type",
        "int_from_float",
        "float_parsing",
        "float_type",
        "finite_number",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "literal_error",
    }
)
_BOUNDS = {"gt": "above {}", "ge": "{} or more", "lt": "below {}", "le": "{} at most"}


def _expected(field: FieldInfo) -> str:
    """'a whole number from 0 to 65535', 'a number above 0', 'one of text, json'."""
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(field.annotation))
    kind = "a whole number" if field.annotation is int else "a number"
    bounds = {
        key: getattr(m, key)
        for m in field.metadata
        for key in _BOUNDS
        if getattr(m, key, None) is not None
    }
    low, high = bounds.get("ge"), bounds.get("le")
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    words = [
        template.format(f"{bounds[key]:g}") for key, template in _BOUNDS.items() if key in bounds
    ]
    return " and ".join([f"{kind} {words[0]}", *words[1:]]) if words else kind


_SHOWN_MAX = 16  # no token, key or secret is this short: a longer value may be one, misplaced


def _shown(value: Any) -> str:
    """ " (got 'abc')" for a value too short to be a token or a key; else nothing."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = str(value)
    if len(text) > _SHOWN_MAX or not text.isprintable():
        return ""
    return f" (got {text!r})"
