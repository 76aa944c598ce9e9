"""Password hashing, signed tokens and webhook signatures: the app's cryptographic helpers.

Credentials encryption at rest lives beside the channel accounts that use it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

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
        # One per purpose, made once: every email signs several links (bench email).
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        serializer = self._serializers.get(purpose)
        if serializer is None:
            serializer = URLSafeTimedSerializer(self.secret_key, salt=f"campaign-manager:{purpose}")
            self._serializers[purpose] = serializer
        return serializer

    def sign(self, purpose: str, payload: Any) -> str:
        return self._serializer(purpose).dumps(payload)

    def verify(self, purpose: str, token: str, max_age_seconds: int | None = None) -> Any | None:
        """The payload, or None when the token is forged, for another purpose or expired."""
        try:
            return self._serializer(purpose).loads(token, max_age=max_age_seconds)
        except (BadSignature, SignatureExpired):
            return None


# --- webhook signatures ------------------------------------------------------------------
#
# Every webhook the app sends (the generic webhook channel, the API's outgoing webhooks)
# carries one header:
#
#     Campaign-Manager-Signature: t=1718035200,v1=5f0c...e9
#
# `t` is the Unix time of sending; `v1` is the lowercase hex HMAC-SHA256, keyed with the
# shared secret (UTF-8), of the bytes `<t>.<raw request body>`. A receiver recomputes v1 over
# the body exactly as received, compares in constant time, and rejects a `t` more than five
# minutes away from its clock, so a captured request cannot be replayed later. While a
# secret is being rotated the header may carry several v1 values; any one may match.

WEBHOOK_SIGNATURE_HEADER = "Campaign-Manager-Signature"
WEBHOOK_TOLERANCE_SECONDS = 300


def _webhook_digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (Unix seconds)."""
    return f"t={timestamp},v1={_webhook_digest(secret, timestamp, body)}"


def signed_webhook_headers(
    secret: str, body: bytes, idempotency_key: str, *, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of every signed webhook POST: JSON, the retry-stable key, the signature.

    The webhook channel adapter and the outgoing webhooks both send exactly these, so a
    receiver written for one verifies the other.
    """
    signed_at = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        WEBHOOK_SIGNATURE_HEADER: sign_webhook(secret, signed_at, body),
    }


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def webhook_url_problem(url: str) -> str | None:
    """Why a signed webhook may not be sent to `url`, or None.

    https only: the body and its signature must not travel in the clear. Plain http is
    accepted for this machine alone (a receiver under development).
    """
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
    except ValueError:
        return "The receiver URL is not a valid address."
    local = parts.scheme == "http" and hostname in LOCAL_HOSTS
    if not hostname or (parts.scheme != "https" and not local):
        return "The receiver URL must start with https:// (http only for localhost)."
    return None


def verify_webhook_signature(
    secret: str,
    body: bytes,
    signature_header: str,
    *,
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when the header signs exactly this body with this secret, recently enough."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in signature_header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _webhook_digest(secret, timestamp, body)
    # Check every candidate so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


# --- spreadsheet cells ---------------------------------------------------------------------
#
# A CSV cell starting with one of these is a formula to a spreadsheet; a leading quote
# defuses it (OWASP "CSV injection"). Every CSV a person may open in a spreadsheet (contact
# exports, import reject reports, print manifests) writes its text cells through
# `spreadsheet_cell`; the importer removes such a quote again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text
