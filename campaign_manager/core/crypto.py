"""Encryption at rest for secrets stored in the database (channel credentials).

Values are encrypted with cryptography's MultiFernet: the first configured key encrypts, every
key decrypts, so keys can be rotated without losing data (`campaign-manager keys rotate`).
The key ring is process-wide because a SQLAlchemy column type cannot reach the Flask app:
`create_app` installs it with `install_credential_cipher` before any query runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text, column, select, table, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from campaign_manager.core.config import ConfigError, Settings


class CredentialsUnreadable(Exception):
    """A stored value was encrypted with a key that is no longer configured."""


class CredentialCipher:
    """Encrypts and decrypts text with a ring of Fernet keys, newest first."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernets = [Fernet(key) for key in keys]
        self._multi = MultiFernet(self._fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        """The configured keys, or in development a key derived from the secret key."""
        keys = settings.security.credential_keys
        if not keys:
            if settings.is_production:  # load_settings already refuses this; belt and braces
                raise ConfigError("[security] credential_keys is required in production")
            return cls([derive_development_key(settings.app.secret_key)])
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ConfigError(
                    f"{settings.source}: [security] credential_keys: key number {position} is "
                    "not a valid Fernet key (32 bytes, URL-safe base64). Make one with: "
                    "campaign-manager keys generate"
                ) from None
        return cls(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise CredentialsUnreadable(
                "stored credentials cannot be decrypted with the configured keys "
                "([security] credential_keys); restore the old key or enter them again"
            ) from None

    def rotate(self, token: str) -> str:
        """The same plaintext, encrypted under the newest key."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise CredentialsUnreadable(
                "a stored value cannot be decrypted with any configured key"
            ) from None

    def is_under_newest_key(self, token: str) -> bool:
        try:
            self._fernets[0].decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True


def rotate_encrypted_column(
    session: Session, table_name: str, column_name: str, row_label: str
) -> tuple[int, int]:
    """Re-encrypt every value of `table.column` under the newest key; return (rows, rotated).

    Works on the stored ciphertext directly (MultiFernet.rotate), so a value that no
    configured key can decrypt stops the rotation, naming its row ("<row_label> <id>"),
    instead of being silently dropped.
    """
    cipher = credential_cipher()
    # A bare table clause, not the model: its untyped column reads and writes the stored
    # ciphertext as it is, where the model's column type would decrypt or encrypt it again.
    stored = table(table_name, column("id"), column(column_name))
    value = stored.c[column_name]
    rows = session.execute(select(stored.c.id, value).order_by(stored.c.id)).all()
    rotated = 0
    for row_id, token in rows:
        if token is None or cipher.is_under_newest_key(token):
            continue
        try:
            new_token = cipher.rotate(token)
        except Exception as exc:
            raise CredentialsUnreadable(f"{row_label} {row_id}: {exc}") from None
        session.execute(update(stored).where(stored.c.id == row_id).values({value: new_token}))
        rotated += 1
    return len(rows), rotated


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def derive_development_key(secret_key: str) -> str:
    # A labelled hash, so the derived key is useless for anything but this purpose.
    digest = hashlib.sha256(b"campaign-manager:credential-key:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


_installed: CredentialCipher | None = None


def install_credential_cipher(cipher: CredentialCipher) -> None:
    global _installed
    _installed = cipher


def credential_cipher() -> CredentialCipher:
    if _installed is None:
        raise RuntimeError(
            "no credential keys are installed; create_app() installs them from the settings"
        )
    return _installed


class EncryptedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object stored as one encrypted text value; the database never sees plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Mapping[str, Any] | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return credential_cipher().encrypt(json.dumps(dict(value), sort_keys=True))

    def process_result_value(self, value: str | None, dialect: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        return json.loads(credential_cipher().decrypt(value))


class EncryptedText(TypeDecorator[str]):
    """One secret string (a webhook signing secret) stored encrypted, like EncryptedJSON."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return credential_cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return credential_cipher().decrypt(value)
