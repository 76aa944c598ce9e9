"""Password hashing and signed tokens, the only two cryptographic helpers the app needs here.

Credentials encryption at rest lives beside the channel accounts that use it.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if password.strip() != password:
        return "The password must not start or end with spaces."
    return None


class TokenSigner:
    """Signs small payloads for links (unsubscribe, calendar feeds), with a purpose salt.

    A token made for one purpose never verifies for another.
    """

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=f"campaign-manager:{purpose}")

    def sign(self, purpose: str, payload: Any) -> str:
        return self._serializer(purpose).dumps(payload)

    def verify(self, purpose: str, token: str, max_age_seconds: int | None = None) -> Any | None:
        """The payload, or None when the token is forged, for another purpose or expired."""
        try:
            return self._serializer(purpose).loads(token, max_age=max_age_seconds)
        except (BadSignature, SignatureExpired):
            return None
