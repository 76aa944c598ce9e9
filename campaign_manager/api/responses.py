"""Building responses: dump with the documented schema, then add ETag, Location, Link.

Views return these `Response`s directly; flask-smorest passes a Response through untouched,
while its `@blp.response(status, Schema)` decorator still documents the schema in OpenAPI.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, json

from campaign_manager.api.conditional import with_etag
from campaign_manager.api.pagination import Page


def json_response(
    schema: ma.Schema,
    item: Any,
    *,
    status: int = 200,
    etag: bool = True,
    location: str | None = None,
) -> Response:
    data = schema.dump(item)
    response = Response(json.dumps(data), status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    return with_etag(response, data) if etag else response


def page_response(item_schema: ma.Schema, page: Page) -> Response:
    data = {"data": item_schema.dump(page.items, many=True), "next_cursor": page.next_cursor}
    response = Response(json.dumps(data), mimetype="application/json")
    response.headers.update(page.link_header())
    return response


def no_content() -> Response:
    """204: done, nothing to say (and no Content-Type, since there is no body)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response
