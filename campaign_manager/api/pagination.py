"""Cursor (keyset) pagination for every list in the API.

A page is asked for with `limit`, `sort` and `cursor`; the answer is
`{"data": [...], "next_cursor": "..."}` (null on the last page) plus a `Link: <...>; rel="next"`
header. The cursor holds the sort key of the last item sent, so the next page starts strictly
after it: rows inserted meanwhile never shift a page (nothing is skipped or repeated, unlike
OFFSET), and a page costs one index range scan however deep it is.

Each sort order is a column plus the primary key as tie-breaker; a resource lists the
orders it allows (on indexed columns only) in a `SortOrders`, for example:

    CONTACT_SORTS = SortOrders(Contact.id, {"id": Contact.id, "updated_at": Contact.updated_at})

which accepts `sort=id`, `sort=-id`, `sort=updated_at` and `sort=-updated_at`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import current_app, request
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from campaign_manager.api.blueprint import ApiSchema
from campaign_manager.api.problems import ApiProblem, FieldError


@dataclass(frozen=True)
class SortKey:
    name: str  # as the client writes it: "updated_at" or "-updated_at"
    column: InstrumentedAttribute[Any]
    descending: bool


class SortOrders:
    def __init__(
        self,
        primary_key: InstrumentedAttribute[Any],
        columns: Mapping[str, InstrumentedAttribute[Any]],
        default: str = "id",
    ) -> None:
        self.primary_key = primary_key
        self.columns = dict(columns)
        self.default = default

    @property
    def choices(self) -> list[str]:
        return [f"{prefix}{name}" for name in self.columns for prefix in ("", "-")]

    def parse(self, raw: str | None) -> SortKey:
        name = raw or self.default
        column = self.columns.get(name.removeprefix("-"))
        if column is None:
            raise ApiProblem(
                422,
                "Unknown sort order.",
                errors=[FieldError("query.sort", f"use one of: {', '.join(self.choices)}")],
            )
        return SortKey(name=name, column=column, descending=name.startswith("-"))


class PageQuerySchema(ApiSchema):
    """The query parameters every list takes; a resource's list schema extends this."""

    limit = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=10_000),
        metadata={"description": "Items per page (default and maximum: see [api] in config)."},
    )
    cursor = ma.fields.String(
        validate=ma.validate.Length(max=1000),
        metadata={"description": "The `next_cursor` of the previous page."},
    )
    sort = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={"description": "A field name, or -name for descending."},
    )


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The response schema of a page of `item_schema`."""
    return ma.Schema.from_dict(
        {
            "data": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(
                required=True, allow_none=True, metadata={"description": "null on the last page"}
            ),
        },
        name=name,
    )


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"data": self.items, "next_cursor": self.next_cursor}

    def link_header(self) -> dict[str, str]:
        if self.next_cursor is None:
            return {}
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        args["cursor"] = self.next_cursor
        return {"Link": f'<{request.base_url}?{urlencode(args)}>; rel="next"'}


def _encode(value: Any) -> Any:
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dt"}:
        return datetime.fromisoformat(value["dt"])
    return value


def encode_cursor(sort: SortKey, last_value: Any, last_id: int) -> str:
    raw = json.dumps({"s": sort.name, "k": [_encode(last_value), last_id]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: SortKey, cursor: str) -> tuple[Any, int]:
    bad = ApiProblem(
        422,
        "The cursor is not one this API gave out for this sort order.",
        errors=[FieldError("query.cursor", "pass next_cursor from the previous page unchanged")],
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        value, last_id = data["k"]
        if data["s"] != sort.name or not isinstance(last_id, int) or isinstance(last_id, bool):
            raise bad
        return _decode(value), last_id
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise bad from None


def page_limit(requested: int | None) -> int:
    settings = current_app.extensions["settings"].api
    return min(requested or settings.default_page_size, settings.max_page_size)


def keyset_page(
    session: Session,
    query: Select[Any],
    orders: SortOrders,
    args: Mapping[str, Any],
) -> Page:
    """One page of `query` (a select of one entity), in the order and from the cursor in
    `args` (the parsed PageQuerySchema)."""
    sort = orders.parse(args.get("sort"))
    limit = page_limit(args.get("limit"))
    pk, column = orders.primary_key, sort.column
    tie_break_only = column is pk
    if args.get("cursor"):
        value, last_id = decode_cursor(sort, args["cursor"])
        after = (lambda c, v: c < v) if sort.descending else (lambda c, v: c > v)
        if tie_break_only:
            query = query.where(after(pk, last_id))
        elif value is None:
            # NULLs sort last in both directions (see the ORDER BY below).
            query = query.where(and_(column.is_(None), after(pk, last_id)))
        else:
            query = query.where(
                or_(
                    after(column, value),
                    and_(column == value, after(pk, last_id)),
                    column.is_(None),
                )
            )
    direction = (lambda c: c.desc()) if sort.descending else (lambda c: c.asc())
    ordering = (
        [direction(pk)] if tie_break_only else [column.is_(None), direction(column), direction(pk)]
    )
    rows = session.scalars(query.order_by(*ordering).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(sort, getattr(last, column.key), getattr(last, pk.key))
    return Page(items=rows, next_cursor=next_cursor)
