"""Error pages in the site layout; never a stack trace for the user."""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from campaign_manager.api.problems import is_api_request, problem_for_exception

log = logging.getLogger(__name__)

EXPLANATIONS = {
    400: ("Bad request", "The request could not be understood. Check the form and try again."),
    403: (
        "Not allowed",
        "Your role does not allow this page or action. Ask an administrator if you need it.",
    ),
    404: ("Not found", "There is nothing at this address. It may have been moved or deleted."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "The upload is larger than this server accepts."),
    429: ("Too many requests", "Slow down and try again in a moment."),
    500: (
        "Something went wrong",
        "The error was logged. Try again; if it persists, tell an administrator.",
    ),
}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


NUL_REFUSED = (
    "The request contained a NUL character (\\0), which cannot be stored. "
    "Remove it (it often comes from pasting binary data) and try again."
)


def refuse_nul_characters():
    """Refuse form values, query values and URL parts carrying NUL, with a message.

    PostgreSQL text cannot hold NUL: without this, such a value reaches the database and
    fails there as a server error (found by the reliability suite's form fuzzing). The API
    checks its own input and names the field in a problem+json answer instead.
    """
    if is_api_request():
        return None
    values = [value for _name, values in request.form.lists() for value in values]
    values += [value for _name, values in request.args.lists() for value in values]
    values += [v for v in (request.view_args or {}).values() if isinstance(v, str)]
    if any("\x00" in value for value in values):
        return render_error(400, NUL_REFUSED)
    return None


def render_error(status: int, detail: str | None = None):
    title, explanation = EXPLANATIONS.get(status, (f"Error {status}", ""))
    return (
        render_template(
            "errors/error.html", status=status, title=title, explanation=detail or explanation
        ),
        status,
    )


def _csrf_error(error: CSRFError):
    if is_api_request():
        return problem_for_exception(error)
    return render_error(
        400,
        "The form was sent without a valid security token (it may have expired). "
        "Go back, reload the page and submit it again.",
    )


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    if is_api_request():
        # The API answers every error, even a 404 for an unknown path, as problem+json.
        return problem_for_exception(error)
    return render_error(error.code)


def _unexpected_error(error: Exception):
    if isinstance(error, HTTPException):
        return _http_error(error)
    if is_api_request() and not current_app.config.get("PROPAGATE_EXCEPTIONS"):
        return problem_for_exception(error)
    if current_app.config.get("PROPAGATE_EXCEPTIONS"):
        # Tests see the real exception instead of an error page.
        raise error
    log.exception("unhandled error", exc_info=error)
    return render_error(InternalServerError.code)
