"""The JSON REST API under /api/v1, with its OpenAPI 3.1 document and browsable docs.

Built on flask-smorest: marshmallow schemas validate each request and the same schemas
generate the OpenAPI document, so the document cannot drift from what the code accepts.

One module per resource (contacts.py is the model to follow), each a flask-smorest
`Blueprint` named `api_<resource>` mounted under /api/v1, with thin views over the domain
services. The shared conventions live beside them:

- blueprint.py     the `Blueprint` and `ApiSchema` resources use, the `<id:...>` converter
- auth.py          `@api_access(*roles)`: bearer tokens, roles, rate limits
- problems.py      RFC 9457 problem+json errors (`ApiProblem`)
- pagination.py    keyset pagination (`keyset_page`, `PageQuerySchema`, `page_schema`)
- conditional.py   ETag / If-Match (`with_etag`, `require_if_match`)
- idempotency.py   `@idempotent`: Idempotency-Key on POST
- responses.py     `json_response`, `page_response`, `no_content`
- docs.py          /api/v1/openapi.json and /api/docs

To add a resource: write `api/<resource>.py` with a `blp`, list it in `resources()` below,
and add sample ids for its URL arguments to tests/api/test_access.py and
tests/api/test_schemathesis.py; docs/api.md ("adding a resource") has the details.
"""

from __future__ import annotations

import http

from flask import Flask, Response
from flask_smorest import Api

from campaign_manager.api.auth import add_rate_limit_headers
from campaign_manager.api.blueprint import BigIdConverter, IdConverter, id_parameter_schema
from campaign_manager.api.problems import PROBLEM_JSON, ProblemSchema, is_api_request


class CampaignManagerApi(Api):
    """flask-smorest's Api, with our errors instead of its own.

    Errors: problem+json for every status (web/errors.py sends /api/ paths to problems.py),
    documented as such, so the OpenAPI document describes exactly what a client receives.
    """

    # Each operation lists its error statuses (blueprint.error_statuses) instead of a
    # catch-all "default", so a status the document does not list is a bug tests catch.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """The app's error handlers (web/errors.py) already answer /api/ with problems."""

    def _register_responses(self) -> None:
        self.spec.components.response(
            "NOT_MODIFIED", {"description": "Not Modified (no body)"}, lazy=True
        )
        for status in http.HTTPStatus:
            if status < 400:
                continue
            self.spec.components.response(
                status.name,
                {
                    "description": status.phrase,
                    "content": {PROBLEM_JSON: {"schema": ProblemSchema}},
                },
                lazy=True,
            )


# Request headers the shared machinery reads, documented on every operation they apply to.
CONDITIONAL_HEADERS = {
    "get": {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "description": "an ETag from an earlier GET: 304 if the resource is unchanged",
        "schema": {"type": "string"},
    },
    "post": {
        "in": "header",
        "name": "Idempotency-Key",
        "required": False,
        "description": "a random key (a UUID): a retry with it within 24 h returns the "
        "first answer instead of acting twice",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "if_match": {
        "in": "header",
        "name": "If-Match",
        "required": True,
        "description": "the ETag from a GET: 412 if the resource changed since, 428 if absent",
        "schema": {"type": "string"},
    },
}


def _document_headers(spec_paths: dict) -> None:
    for path, operations in spec_paths.items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            wanted = (
                CONDITIONAL_HEADERS["if_match"]
                if method in ("patch", "put", "delete")
                else (CONDITIONAL_HEADERS.get(method))
            )
            if method == "get" and "{" not in path:
                wanted = None  # lists have no ETag
            parameters = operation.setdefault("parameters", [])
            if wanted and all(p.get("name") != wanted["name"] for p in parameters):
                parameters.append(dict(wanted))


def resources():
    """The resource modules, each with a `blp`; add a new one here."""
    from campaign_manager.api import (
        assets,
        calendar_feed,
        campaigns,
        channel_accounts,
        contact_imports,
        contacts,
        creatives,
        deliveries,
        events,
        print_jobs,
        segments,
        webhooks,
    )

    return [
        contacts,
        contact_imports,
        segments,
        campaigns,
        channel_accounts,
        deliveries,
        events,
        print_jobs,
        assets,
        creatives,
        webhooks,
        calendar_feed,
    ]


def register_api(app: Flask) -> CampaignManagerApi:
    from campaign_manager.api import docs
    from campaign_manager.extensions import csrf

    app.config.update(
        API_TITLE="Campaign Manager API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        # We serve the document and docs ourselves (docs.py): no CDN-loaded UI.
        OPENAPI_URL_PREFIX=None,
        API_SPEC_OPTIONS={
            "info": {
                "description": "Contacts, consent, segments and more, for programs. "
                "Authenticate with a personal API token: `Authorization: Bearer <token>`.",
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
        },
    )
    api = CampaignManagerApi(app)
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["big_id"] = BigIdConverter
    api.register_converter(IdConverter, id_parameter_schema)
    api.register_converter(BigIdConverter, id_parameter_schema)
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "A personal API token from Settings"},
    )
    for module in resources():
        # Tokens, not cookies: a cross-site page cannot send a bearer token, so no CSRF.
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp)
    _document_headers(api.spec._paths)  # apispec has no public way to amend operations
    app.register_blueprint(docs.bp)
    app.extensions["campaign_manager.api"] = api
    app.after_request(_api_cache_headers)
    # Only token-authenticated requests have a rate-limit state to tell.
    app.after_request(add_rate_limit_headers)
    return api


def _api_cache_headers(response: Response) -> Response:
    if is_api_request():
        # Answers depend on the token; shared caches must not keep them (ETags still work).
        response.headers.setdefault("Cache-Control", "private, no-cache")
        response.headers.setdefault("Vary", "Authorization")
    return response
