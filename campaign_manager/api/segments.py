"""Segments: rule-based groups of contacts (grammar in audiences/segments.py), counts, members."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for
from sqlalchemy import select

from audiences.contacts import AudienceError
from audiences.models import Contact, Segment
from audiences.segments import (
    SegmentRuleError,
    compile_condition,
    count_segment,
    create_segment,
    delete_segment,
    update_segment,
)
from campaign_manager.api.auth import api_access
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.conditional import require_if_match
from campaign_manager.api.contacts import ContactSchema, contact_page_response
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, no_content, page_response
from campaign_manager.extensions import db
from campaign_manager.web.authz import EDITORS, STAFF

blp = Blueprint(
    "api_segments",
    __name__,
    url_prefix="/api/v1/segments",
    description="Rule-based groups of contacts, with counts and members.",
)

RULES_DESCRIPTION = (
    'The rule tree, for example {"type": "all", "rules": [{"type": "field", "field": "role", '
    '"op": "equals", "value": "student"}]}; see docs/api.md for the grammar.'
)


class SegmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String()
    rules = ma.fields.Dict(required=True, metadata={"description": RULES_DESCRIPTION})
    is_builtin = ma.fields.Boolean(metadata={"description": "built-in segments cannot change"})
    member_count = ma.fields.Integer(
        attribute="cached_count", allow_none=True, metadata={"description": "as last counted"}
    )
    counted_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class SegmentInSchema(ApiSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    slug = ma.fields.String(
        validate=ma.validate.Length(max=80),
        metadata={"description": "made from the name if absent; it never changes later"},
    )
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    rules = ma.fields.Dict(required=True, metadata={"description": RULES_DESCRIPTION})


class SegmentPatchSchema(ApiSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    rules = ma.fields.Dict(metadata={"description": RULES_DESCRIPTION})


SEGMENT_SORTS = SortOrders(Segment.id, {"id": Segment.id})
MEMBER_SORTS = SortOrders(Contact.id, {"id": Contact.id})


def _segment_or_404(segment_id: int, *, for_update: bool = False) -> Segment:
    query = select(Segment).where(Segment.id == segment_id)
    if for_update:
        query = query.with_for_update()
    segment = db.session.scalar(query)
    if segment is None:
        raise ApiProblem(404, f"There is no segment #{segment_id}.")
    return segment


def _problem(exc: AudienceError) -> ApiProblem:
    """A segment service's refusal as a problem, with the field it is about."""
    if isinstance(exc, SegmentRuleError):
        return ApiProblem(
            422,
            "The rules are not valid.",
            errors=[
                FieldError("rules" + problem.path.replace("/", "."), problem.message)
                for problem in exc.problems
            ],
        )
    message = str(exc)
    field = "slug" if "slug" in message else "name"
    if "built-in" in message or "used by" in message:
        return ApiProblem(409, message)
    status = 409 if "already exists" in message or "is taken" in message else 422
    return ApiProblem(status, message, errors=[FieldError(field, message)])


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(SegmentSchema, "SegmentPage"))
def list_segments(args: dict[str, Any]):
    """All segments, by id."""
    page = keyset_page(db.session, select(Segment), SEGMENT_SORTS, args)
    return page_response(SegmentSchema(), page)


@blp.route("", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(SegmentInSchema)
@blp.response(201, SegmentSchema)
@idempotent
def create(data: dict[str, Any]):
    """Add a segment; it is counted at once. Invalid rules: 422 with one error per problem."""
    try:
        segment = create_segment(
            db.session,
            data["name"],
            data["rules"],
            slug=data.get("slug"),
            description=data["description"],
        )
    except AudienceError as exc:
        raise _problem(exc) from None
    db.session.commit()
    location = url_for("api_segments.get_segment", segment_id=segment.id)
    return json_response(SegmentSchema(), segment, status=201, location=location)


@blp.route("/<id:segment_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, SegmentSchema)
def get_segment(segment_id: int):
    """One segment, with its ETag."""
    return json_response(SegmentSchema(), _segment_or_404(segment_id))


@blp.route("/<id:segment_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(SegmentPatchSchema)
@blp.response(200, SegmentSchema)
def patch_segment(data: dict[str, Any], segment_id: int):
    """Change the name, description or rules (needs If-Match); it is counted again."""
    segment = _segment_or_404(segment_id, for_update=True)
    require_if_match(SegmentSchema().dump(segment))
    try:
        update_segment(
            db.session,
            segment,
            name=data.get("name", segment.name),
            rules=data.get("rules", segment.rules),
            description=data.get("description", segment.description),
        )
    except AudienceError as exc:
        raise _problem(exc) from None
    db.session.commit()
    return json_response(SegmentSchema(), segment)


@blp.route("/<id:segment_id>", methods=["DELETE"])
@api_access(*EDITORS)
@blp.response(204)
def delete(segment_id: int):
    """Delete a segment (needs If-Match); 409 if it is built in or in use."""
    segment = _segment_or_404(segment_id, for_update=True)
    require_if_match(SegmentSchema().dump(segment))
    try:
        delete_segment(db.session, segment)
    except AudienceError as exc:
        raise _problem(exc) from None
    db.session.commit()
    return no_content()


@blp.route("/<id:segment_id>/count", methods=["POST"])
@api_access(*EDITORS)
@blp.response(200, SegmentSchema)
@idempotent
def recount(segment_id: int):
    """Count the members now and keep the count on the segment."""
    segment = _segment_or_404(segment_id)
    try:
        count_segment(db.session, segment)
    except SegmentRuleError as exc:
        raise _problem(exc) from None
    db.session.commit()
    return json_response(SegmentSchema(), segment)


@blp.route("/<id:segment_id>/members", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(ContactSchema, "SegmentMemberPage"))
def members(args: dict[str, Any], segment_id: int):
    """The contacts in the segment now, by id."""
    segment = _segment_or_404(segment_id)
    try:
        condition = compile_condition(db.session, segment.rules, slug=segment.slug)
    except SegmentRuleError as exc:
        raise _problem(exc) from None
    page = keyset_page(db.session, select(Contact).where(condition), MEMBER_SORTS, args)
    return contact_page_response(page)
