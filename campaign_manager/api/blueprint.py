"""The Blueprint every API resource uses: flask-smorest's, plus a multipart location, and
the `id` URL converter every resource's ids use.

`location="form_and_files"` reads a multipart/form-data body's fields and files with one
schema, documented as one multipart request body (flask-smorest alone would document the
form fields as OpenAPI 2 `formData` parameters, which OpenAPI 3 does not have).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.routing import BaseConverter


class IdConverter(BaseConverter):
    """`<id:contact_id>`: a row id. One out of the column's range becomes 0, which names no
    row, so the view answers 404 (PostgreSQL would raise "integer out of range" on it;
    werkzeug's own `max=` check would answer 405 for some methods instead of 404)."""

    regex = r"\d+"
    weight = 50
    # The largest id an INTEGER column holds on PostgreSQL (SQLite's are larger).
    max_id = 2**31 - 1

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if 1 <= number <= self.max_id else 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


class BigIdConverter(IdConverter):
    """`<big_id:delivery_id>`: a row id of a table with 64-bit ids (core.db.BigId)."""

    max_id = 2**63 - 1


def id_parameter_schema(converter: IdConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": converter.max_id}


class ApiParser(FlaskParser):
    # An unknown query parameter is an error (422), not silently ignored: "?rol=student"
    # must not list everyone.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}
    __location_map__ = {
        **FlaskParser.__location_map__,
        "form_and_files": "load_form_and_files",
    }

    def load_form_and_files(self, req: Request, schema: ma.Schema) -> Any:
        return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)


def error_statuses(rule: str, methods: list[str]) -> list[int]:
    """The errors the shared machinery can answer a request to `rule` with.

    Every operation documents them (as problem+json), so the document lists each status a
    client can get; there is no catch-all "default" response.
    """
    statuses = {401, 403, 429, 500}
    if "<" in rule:
        statuses.add(404)
        if "GET" in methods:
            statuses.add(304)  # If-None-Match named the current ETag
    for method in methods:
        if method in ("POST", "PUT", "PATCH"):
            statuses |= {400, 409, 415, 422}  # bad JSON or key, conflict, media type, fields
        if method in ("PUT", "PATCH", "DELETE"):
            statuses |= {409, 412, 428}  # conflict, stale If-Match, missing If-Match
    return sorted(statuses)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "form_and_files": "multipart/form-data",
    }

    def route(self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any):
        methods = options.get("methods", ["GET"])
        register = super().route(rule, parameters=parameters, tags=tags, **options)

        def decorator(func: Any) -> Any:
            for status in error_statuses(rule, methods):
                func = self.alt_response(status, response=HTTPStatus(status).name)(func)
            return register(func)

        return decorator


def _nul_errors(value: Any) -> Any:
    """Marshmallow-shaped errors for every string holding a NUL character, or None."""
    if isinstance(value, str):
        return ["must not contain NUL (\\u0000) characters"] if "\x00" in value else None
    if isinstance(value, Mapping):
        found = {}
        for key, item in value.items():
            error = _nul_errors(key) or _nul_errors(item)
            if error:
                found[key] = error
        return found or None
    if isinstance(value, list | tuple):
        found_items = {i: e for i, item in enumerate(value) if (e := _nul_errors(item))}
        return found_items or None
    return None


class ApiSchema(ma.Schema):
    """The base of every API request schema.

    Text with NUL characters is refused whole: PostgreSQL cannot store them, and no name or
    address has one.
    """

    @ma.pre_load
    def _refuse_nul(self, data: Any, **_kwargs: Any) -> Any:
        errors = _nul_errors(data)
        if errors:
            raise ma.ValidationError(errors)
        return data


def id_field(*, big: bool = False, **kwargs: Any) -> ma.fields.Integer:
    """An id in a body or query (`"creative_id": 5`, `?campaign=3`): 1 up to what the column
    holds (BigIdConverter's range for 64-bit ids), so a huge number is a 422, not a database
    error."""
    converter = BigIdConverter if big else IdConverter
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=converter.max_id), **kwargs)
