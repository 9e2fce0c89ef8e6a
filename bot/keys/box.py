"""Sealing Edge Impulse keys under `SECRET_KEY`: Fernet (AES-CBC with an HMAC, so a token is
either opened whole or refused) under a key derived by HKDF-SHA256 from `SECRET_KEY` and the
project id. Deriving per project binds a sealed key to its project: a row copied onto another
project's is refused, not used there. `SECRET_KEY` itself is never stored."""

from __future__ import annotations

import base64
from typing import Final

from cryptography.fernet import Fernet, InvalidToken
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


class Unreadable(Exception):
    """The sealed text does not open under this `SECRET_KEY` (for this project)."""


class KeyBox:
    """Seals and opens one project's key. Holds `SECRET_KEY` only as the `SecretStr` it came in."""

    def __init__(self, secret_key: SecretStr) -> None:
        self._secret = secret_key

    def __repr__(self) -> str:
        return "KeyBox(SECRET_KEY=**********)"

    def _fernet(self, project_id: str) -> Fernet:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO + project_id.encode()
        ).derive(self._secret.get_secret_value().encode())
        return Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, project_id: str, key: SecretStr) -> str:
        return self._fernet(project_id).encrypt(key.get_secret_value().encode()).decode("ascii")

    def open(self, project_id: str, sealed: str) -> SecretStr:
        """The key, or `Unreadable` (a wrong SECRET_KEY, another project's row, damaged text)."""
        try:
            return SecretStr(self._fernet(project_id).decrypt(sealed.encode("ascii")).decode())
        except (InvalidToken, UnicodeError, ValueError):
            raise Unreadable(project_id) from None


def mask(key: SecretStr) -> str:
    """At most what a person needs to tell two keys apart: `ei_…abcd`."""
    text = key.get_secret_value()
    if len(text) < 16:
        return "…"
    return f"{text[:3]}…{text[-4:]}" if text.startswith("ei_") else f"…{text[-4:]}"
