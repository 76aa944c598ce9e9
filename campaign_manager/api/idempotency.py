"""`Idempotency-Key` on POST: a retried request returns the first result instead of acting twice.

The semantics are Stripe's and Mastodon's, in the words of the IETF draft
(draft-ietf-httpapi-idempotency-key-header):

- The first POST with a key (per user) runs, and its status, body and headers are kept for 24
  hours. The same key again within 24 hours returns that response as it was, with the
  header `Idempotent-Replayed: true`, without running anything.
- The same key with a different request (another path or body) is a client bug: 422.
- The same key while the first request is still running: 409; retry later.
- A key is kept only once the request passed validation (as Stripe), and not when the
  request failed on the server (5xx): its transaction was rolled back, so a retry is safe.

Usage, inside the validation decorators of a POST view:

    @blp.arguments(ContactIn)
    @idempotent
    def create(data): ...

A response that shows a secret once (a webhook signing secret) is kept encrypted with the
credential keys, like the secret itself: `@idempotent(response_holds_secret=True)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, request
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import HTTPException

from campaign_manager.api.auth import current_api_user
from campaign_manager.api.problems import ApiProblem, FieldError, problem_for_exception
from campaign_manager.core.crypto import credential_cipher
from campaign_manager.core.db import Base, utcnow
from campaign_manager.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

KEY_HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Response headers worth replaying; others (rate limits, dates) describe the new request.
REPLAYED_HEADERS = ("Location", "ETag", "Content-Type")


class IdempotencyRecord(Base):
    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    # SHA-256 of method, path and body: what "the same request" means.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # None while the first request is still running.
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.query_string.decode()}\n".encode())
    if request.mimetype == "multipart/form-data":
        # The body was parsed into form and files already; hash what they hold.
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"form {name}={value}\n".encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda i: i[0]):
            content = upload.stream.read()
            upload.stream.seek(0)
            digest.update(f"file {name} {upload.filename}\n".encode())
            digest.update(hashlib.sha256(content).digest())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _key_from_request() -> str | None:
    key = request.headers.get(KEY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ApiProblem(
            400,
            f"An {KEY_HEADER} is 1 to {MAX_KEY_LENGTH} printable ASCII characters; "
            "a random UUID is a good one.",
            errors=[FieldError(f"headers.{KEY_HEADER}", "invalid key")],
        )
    return key


def _replay(record: IdempotencyRecord, *, encrypted: bool) -> Response:
    body = record.response_body or ""
    if encrypted and body:
        body = credential_cipher().decrypt(body)
    response = Response(body, status=record.status_code or 200)
    for name, value in record.response_headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _reserve(
    user_id: int, key: str, fingerprint: str, *, encrypted: bool
) -> IdempotencyRecord | Response:
    """Claim the key for this request, or answer from (or about) the request that has it."""
    session = db.session
    now = utcnow()
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.created_at < now - KEEP_FOR
        )
    )
    existing = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
        )
    )
    if existing is None:
        record = IdempotencyRecord(
            user_id=user_id, key=key, fingerprint=fingerprint, created_at=now
        )
        session.add(record)
        try:
            session.commit()
        except IntegrityError:
            # Another process claimed the same key between our look-up and insert.
            session.rollback()
            raise _in_progress(key) from None
        return record
    session.commit()
    if existing.fingerprint != fingerprint:
        raise ApiProblem(
            422,
            f"This {KEY_HEADER} was used for a different request in the last 24 hours. "
            "Use a new key for a new request.",
            errors=[FieldError(f"headers.{KEY_HEADER}", "already used for another request")],
        )
    if existing.status_code is None:
        raise _in_progress(key)
    return _replay(existing, encrypted=encrypted)


def _in_progress(key: str) -> ApiProblem:
    return ApiProblem(
        409,
        f"A request with this {KEY_HEADER} is still being processed. Retry in a moment.",
        headers={"Retry-After": "1"},
    )


def idempotent(view: F | None = None, *, response_holds_secret: bool = False) -> Any:
    """`@idempotent`, or `@idempotent(response_holds_secret=True)` to keep the response
    encrypted (it is the only copy of a secret shown once)."""
    if view is None:
        return lambda inner: _idempotent(inner, encrypted=response_holds_secret)
    return _idempotent(view, encrypted=response_holds_secret)


def _idempotent(view: F, *, encrypted: bool) -> F:
    @wraps(view)
    def run_once(*args: Any, **kwargs: Any) -> Any:
        key = _key_from_request()
        if key is None:
            return view(*args, **kwargs)
        user_id = current_api_user().id
        claimed = _reserve(user_id, key, _fingerprint(), encrypted=encrypted)
        if isinstance(claimed, Response):
            return claimed
        record_id = claimed.id
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except HTTPException as error:
            if error.code is None or error.code >= 500:
                _forget(record_id)
                raise
            response = problem_for_exception(error)
        except BaseException:
            _forget(record_id)
            raise
        if response.status_code >= 500:
            _forget(record_id)
            return response
        session = db.session
        session.rollback()
        record = session.get(IdempotencyRecord, record_id)
        if record is not None:
            record.status_code = response.status_code
            body = response.get_data(as_text=True)
            record.response_body = credential_cipher().encrypt(body) if encrypted else body
            record.response_headers = {
                name: response.headers[name]
                for name in REPLAYED_HEADERS
                if name in response.headers
            }
            session.commit()
        return response

    run_once.honours_idempotency_key = True  # type: ignore[attr-defined]
    return run_once  # type: ignore[return-value]


def _forget(record_id: int) -> None:
    session = db.session
    session.rollback()
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    session.commit()
