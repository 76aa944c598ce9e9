"""Errors as RFC 9457 problem details (`application/problem+json`), for every error under /api.

A view raises `ApiProblem(status, detail, errors=[...])`; request validation (webargs and
marshmallow) and werkzeug's own errors (404, 405, 413, ...) are turned into the same shape by
`problem_for_exception`, which the app's error handlers call for any path under /api/. So a
client never sees an HTML error page from the API, whatever went wrong.

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "The request body has 1 invalid field.", "instance": "/api/v1/contacts",
     "errors": [{"field": "email", "pointer": "#/email", "detail": "Not a valid email."}]}

`errors` lists field-level problems; `pointer` is a JSON Pointer into the request body (or
the name of a query parameter or header, as `field`).
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask import Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
API_PATH_PREFIX = "/api/"

# Where the problem types are explained (docs/api.md has the same list).
PROBLEM_TYPES_URL = "/api/docs#problems"


@dataclass(frozen=True)
class FieldError:
    """One field's problem: `field` names it ("email", "items.3.email", "query.limit")."""

    field: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        if self.field.startswith(("query.", "headers.", "path.")):
            # Not in the body, so no JSON Pointer: `field` names the parameter.
            return {"field": self.field, "detail": self.detail}
        pointer = "#/" + "/".join(self.field.split(".")) if self.field else "#"
        return {"field": self.field, "pointer": pointer, "detail": self.detail}


class ApiProblem(HTTPException):
    """Raise from anywhere in an API request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        type_: str = "about:blank",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(description=detail)
        self.code = status
        self.detail = detail
        self.errors = list(errors)
        self.problem_headers = dict(headers or {})
        self.type_ = type_
        self.extra = dict(extra or {})


def is_api_request() -> bool:
    return request.path.startswith(API_PATH_PREFIX)


def problem_response(
    status: int,
    detail: str,
    *,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    type_: str = "about:blank",
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    error_list = [e.as_dict() for e in errors]
    if error_list:
        body["errors"] = error_list
    body.update(extra or {})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_errors_from_messages(messages: Any, prefix: str = "") -> list[FieldError]:
    """Flatten marshmallow's nested error messages into one FieldError per message."""
    found: list[FieldError] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix
            found.extend(field_errors_from_messages(value, name))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            found.extend(FieldError(prefix, m) for m in messages)
        else:
            for item in messages:
                found.extend(field_errors_from_messages(item, prefix))
    else:
        found.append(FieldError(prefix, str(messages)))
    return found


# webargs keys errors by where the value came from; the body is the default place, so its
# fields are named bare ("email") and others are prefixed ("query.limit", "headers.If-Match").
_BODY_LOCATIONS = ("json", "form", "files", "json_or_form", "form_and_files")


def _validation_errors(messages: Mapping[str, Any]) -> list[FieldError]:
    found: list[FieldError] = []
    for location, location_messages in messages.items():
        prefix = "" if location in _BODY_LOCATIONS else location
        found.extend(field_errors_from_messages(location_messages, prefix))
    return found


def problem_for_exception(error: BaseException) -> Response:
    """The problem document for any exception raised while serving an API request."""
    if isinstance(error, ApiProblem):
        return problem_response(
            error.code or 500,
            error.detail,
            errors=error.errors,
            headers=error.problem_headers,
            type_=error.type_,
            extra=error.extra,
        )
    if isinstance(error, HTTPException) and error.code is not None:
        data = getattr(error, "data", None) or {}
        messages = data.get("messages")
        if isinstance(messages, Mapping) and messages:
            errors = _validation_errors(messages)
            if error.code == 400:
                detail = "The request body is not valid JSON."
            else:
                count = len(errors)
                detail = f"The request has {count} invalid field{'s' if count != 1 else ''}."
            return problem_response(error.code, detail, errors=errors, headers=data.get("headers"))
        headers = dict(error.get_headers())
        headers.pop("Content-Type", None)
        return problem_response(error.code, _plain_detail(error), headers=headers)
    log.exception("unhandled error in API request", exc_info=error)
    return problem_response(
        500, "Something went wrong on the server. The error was logged; try again later."
    )


def _plain_detail(error: HTTPException) -> str:
    if error.code == 404:
        return "There is nothing at this address. Check the id, or list the collection."
    if error.code == 405:
        allowed = error.get_response().headers.get("Allow", "")
        return f"This address does not accept {request.method}; it accepts {allowed}."
    if error.code == 413:
        return "The request body is larger than this server accepts."
    return error.description or http.HTTPStatus(error.code or 500).phrase


class ProblemFieldSchema(ma.Schema):
    field = ma.fields.String(metadata={"description": "the field, dotted: items.3.email"})
    pointer = ma.fields.String(metadata={"description": "JSON Pointer into the request body"})
    detail = ma.fields.String()


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation only: problems are built by problem_response)."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    instance = ma.fields.String()
    errors = ma.fields.List(ma.fields.Nested(ProblemFieldSchema))

    class Meta:
        # Some problems carry extension members (an idempotency key, a limit).
        unknown = ma.INCLUDE
