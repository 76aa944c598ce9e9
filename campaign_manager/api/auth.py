"""Who is calling: personal API tokens (`Authorization: Bearer cm_...`), roles, rate limits.

Every API endpoint carries `@api_access(*roles)`, the API's `@requires_role`: it sets the same
marker, so `check_every_view_declares_access` and the access tests read both alike. The API
never looks at the session cookie: a browser's cookie cannot act through it, which is why the
API needs no CSRF token (a cross-site page cannot attach a bearer token).

Admins may use every endpoint any staff role may use, as in the web UI.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from campaign_manager.api.problems import ApiProblem
from campaign_manager.core.accounts import Role, User
from campaign_manager.core.api_tokens import (
    ApiToken,
    RateLimitState,
    count_request,
    find_usable_token,
)
from campaign_manager.extensions import db
from campaign_manager.web.authz import ALLOWED_ROLES_ATTR

F = TypeVar("F", bound=Callable[..., Any])

# Set on every token-authenticated view; the web access matrix leaves these to tests/api.
TOKEN_AUTH_ATTR = "uses_api_token"  # noqa: S105 - an attribute name, not a secret


def api_access(*roles: Role, accepts: tuple[str, ...] = ("application/json",)) -> Callable[[F], F]:
    """Allow callers whose token belongs to a user with one of `roles` (admins always).

    No or a bad token: 401. Over the rate limit: 429. A role not allowed: 403. A request
    body of a media type not in `accepts`: 415.
    """
    allowed = frozenset(roles) | {Role.ADMIN}

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = authenticate()
            if user.role not in allowed:
                raise ApiProblem(
                    403,
                    f"A {user.role.value}'s token may not use {request.method} {request.path}.",
                )
            _check_media_type(accepts)
            return view(*args, **kwargs)

        setattr(guarded, ALLOWED_ROLES_ATTR, allowed)
        setattr(guarded, TOKEN_AUTH_ATTR, True)
        return guarded  # type: ignore[return-value]

    return decorate


def _check_media_type(accepts: tuple[str, ...]) -> None:
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    if request.method in ("POST", "PUT", "PATCH") and has_body and request.mimetype not in accepts:
        raise ApiProblem(
            415,
            f"Send the body as {' or '.join(accepts)}, not {request.mimetype or 'untyped'}.",
            headers={
                "Accept-Post" if request.method == "POST" else "Accept-Patch": ", ".join(accepts)
            },
        )


def current_api_user() -> User:
    return g.api_user


def current_api_token() -> ApiToken:
    return g.api_token


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="campaign-manager"'}


def authenticate() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        cookie_name = current_app.config["SESSION_COOKIE_NAME"]
        why = (
            "The API does not accept the session cookie. "
            if request.cookies.get(cookie_name)
            else ""
        )
        raise ApiProblem(
            401,
            why + "Send a personal API token as 'Authorization: Bearer <token>'; "
            "create one under Settings → API tokens.",
            headers=_CHALLENGE,
        )
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(
            401, "Use the Bearer scheme: 'Authorization: Bearer <token>'.", headers=_CHALLENGE
        )
    token = find_usable_token(db.session, secret.strip())
    if token is None:
        db.session.rollback()
        raise ApiProblem(
            401,
            "The token is unknown, expired or revoked, or its user is disabled.",
            headers={"WWW-Authenticate": 'Bearer realm="campaign-manager", error="invalid_token"'},
        )
    settings = current_app.extensions["settings"].api
    state = count_request(
        db.session,
        token,
        limit=settings.rate_limit_requests,
        window_seconds=settings.rate_limit_window_seconds,
    )
    user = token.user
    # The count is kept whatever the request does next, and the write lock is let go
    # before the view's own transaction begins.
    db.session.commit()
    g.api_token, g.api_user, g.rate_limit = token, user, state
    if state.exceeded:
        raise ApiProblem(
            429,
            f"This token made more than {state.limit} requests in "
            f"{settings.rate_limit_window_seconds} seconds. "
            f"Wait {state.reset_seconds} seconds.",
            headers={"Retry-After": str(state.reset_seconds)},
        )
    return user


def add_rate_limit_headers(response: Response) -> Response:
    """RateLimit-Limit/-Remaining/-Reset (IETF httpapi-ratelimit-headers, draft 06 names)."""
    state: RateLimitState | None = g.get("rate_limit")
    if state is not None:
        response.headers["RateLimit-Limit"] = str(state.limit)
        response.headers["RateLimit-Remaining"] = str(max(0, state.remaining))
        response.headers["RateLimit-Reset"] = str(state.reset_seconds)
    return response
