"""The one declarative way to say who may use a route: `@requires_role(...)` or `@public`.

Every view must carry one of the two; `check_every_view_declares_access` refuses to start an
app with a view that says neither, so a forgotten check fails closed at start-up.
Admins may use every route that any staff role may use.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort
from flask_login import current_user

from campaign_manager.core.accounts import Role
from campaign_manager.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])

# Convenient groups, so route declarations read as intent.
EDITORS = (Role.MARKETER,)
APPROVERS = (Role.APPROVER,)
STAFF = (Role.MARKETER, Role.APPROVER, Role.VIEWER)
EVERYONE = (*STAFF, Role.VENDOR)
ADMINS_ONLY: tuple[Role, ...] = ()

ALLOWED_ROLES_ATTR = "allowed_roles"
PUBLIC = "public"


def requires_role(*roles: Role) -> Callable[[F], F]:
    """Allow signed-in users with one of `roles` (admins always); others get 403."""
    allowed = frozenset(roles) | {Role.ADMIN}

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        setattr(guarded, ALLOWED_ROLES_ATTR, allowed)
        return guarded  # type: ignore[return-value]

    return decorate


def public(view: F) -> F:
    """Mark a view as open to anyone, signed in or not (login page, unsubscribe links)."""
    setattr(view, ALLOWED_ROLES_ATTR, PUBLIC)
    return view


def allowed_roles_of(view: Callable[..., Any]) -> frozenset[Role] | str | None:
    return getattr(view, ALLOWED_ROLES_ATTR, None)


def can(endpoint: str) -> bool:
    """Whether the current user may use `endpoint`; templates use it to hide what would 403."""
    from flask import current_app

    view = current_app.view_functions.get(endpoint)
    allowed = allowed_roles_of(view) if view else None
    if allowed == PUBLIC:
        return True
    return bool(allowed) and current_user.is_authenticated and current_user.role in allowed


def check_every_view_declares_access(app: Flask) -> None:
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and allowed_roles_of(view) is None
    ]
    if undeclared:
        raise RuntimeError(
            "these views declare neither @requires_role nor @public: "
            + ", ".join(sorted(undeclared))
        )
