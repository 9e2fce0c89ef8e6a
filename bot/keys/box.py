"""Sealing Edge Impulse keys under `SECRET_KEY`: Fernet (AES-CBC with an HMAC, so a token is
either opened whole or refused) under a key derived by HKDF-SHA256 from `SECRET_KEY` and the
project id. Deriving per project binds a sealed key to its project: a row copied onto another
project's is refused, not used there. `SECRET_KEY` itself is never stored.

Rotation: with `SECRET_KEY_PREVIOUS` set, a key sealed under it still opens (cryptography's
`MultiFernet`, the new secret first), and `reseal` gives its text sealed under `SECRET_KEY`
(`MultiFernet.rotate`), which `bot.keys.ring` writes back."""

from __future__ import annotations

import base64
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

SECRET_KEY_HOWTO: Final = (
    "set SECRET_KEY to a long random string, made e.g. with "
    '`python -c "import secrets; print(secrets.token_urlsafe(48))"`, where the bot runs '
    "(the same on every replica), then restart it"
)
_SALT: Final = b"eon-bot/ei-api-keys"
_INFO: Final = b"eon-bot ei-api-key v1 project "
# Slack bot tokens of the workspaces that installed the app (`bot.slack.install`), bound to
# their workspace as keys are to their project; another `info`, so neither opens as the other.
TOKEN_INFO: Final = b"eon-bot slack-bot-token v1 team "
_UNOPENED: Final = (InvalidToken, UnicodeError, ValueError)


class Unreadable(Exception):
    """The sealed text does not open under this `SECRET_KEY` (for this project)."""


class KeyBox:
    """Seals and opens one project's key. Holds `SECRET_KEY` (and `SECRET_KEY_PREVIOUS`) only
    as the `SecretStr` they came in."""

    def __init__(
        self, secret_key: SecretStr, previous: SecretStr | None = None, *, info: bytes = _INFO
    ) -> None:
        self._secret = secret_key
        self._previous = previous
        self._info = info

    def __repr__(self) -> str:
        rotating = ", SECRET_KEY_PREVIOUS=**********" if self._previous is not None else ""
        return f"KeyBox(SECRET_KEY=**********{rotating})"

    @property
    def rotating(self) -> bool:
        """Whether a previous secret is given: keys sealed under it are to be re-sealed."""
        return self._previous is not None

    def _fernet(self, project_id: str, secret: SecretStr) -> Fernet:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=_SALT, info=self._info + project_id.encode()
        ).derive(secret.get_secret_value().encode())
        return Fernet(base64.urlsafe_b64encode(derived))

    def _fernets(self, project_id: str) -> MultiFernet:
        """The current secret's first: it seals, and `rotate` re-seals under it."""
        secrets = [self._secret] + ([self._previous] if self._previous is not None else [])
        return MultiFernet([self._fernet(project_id, secret) for secret in secrets])

    def seal(self, project_id: str, key: SecretStr) -> str:
        return self._fernets(project_id).encrypt(key.get_secret_value().encode()).decode("ascii")

    def open(self, project_id: str, sealed: str) -> SecretStr:
        """The key, or `Unreadable` (a wrong SECRET_KEY, another project's row, damaged text)."""
        try:
            return SecretStr(self._fernets(project_id).decrypt(sealed.encode("ascii")).decode())
        except _UNOPENED:
            raise Unreadable(project_id) from None

    def reseal(self, project_id: str, sealed: str) -> str | None:
        """`sealed` sealed again under `SECRET_KEY` if it opens only under the previous secret;
        None if it is sealed under `SECRET_KEY` already (or no previous secret is given);
        `Unreadable` if it opens under neither."""
        if self._previous is None:
            return None
        try:
            self._fernet(project_id, self._secret).decrypt(sealed.encode("ascii"))
            return None
        except _UNOPENED:
            pass
        try:
            return self._fernets(project_id).rotate(sealed.encode("ascii")).decode("ascii")
        except _UNOPENED:
            raise Unreadable(project_id) from None


def mask(key: SecretStr) -> str:
    """At most what a person needs to tell two keys apart: `ei_…abcd`."""
    text = key.get_secret_value()
    if len(text) < 16:
        return "…"
    return f"{text[:3]}…{text[-4:]}" if text.startswith("ei_") else f"…{text[-4:]}"
