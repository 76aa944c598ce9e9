"""Creatives: emails, social posts, web pages and print pieces; their versions and previews.

Content is saved through `creatives.editing.save_variant`, with the editor's checks: errors
refuse the save (422, one field error per problem), warnings come back in `warnings`. A
version frozen by a campaign's approval is never changed: saving makes a new version, as in
the editor. Previews render without saving: an email's subject, HTML and text for a sample
recipient (or a real contact), a social post per network with its counted length, a web
page's HTML, and a print piece as its print-ready PDF.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask import Response, url_for
from sqlalchemy import func, select

from audiences.recipients import recipient_for
from campaign_manager.api.auth import api_access
from campaign_manager.api.blueprint import ApiSchema, Blueprint, id_field
from campaign_manager.api.conditional import etag_of, require_if_match
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.extensions import db
from campaign_manager.web.authz import EDITORS, STAFF
from creatives.content import (
    CONTENT_CLASSES,
    EmailContent,
    SocialContent,
    WebContent,
    content_from_dict,
)
from creatives.editing import remove_variant, rename_creative, save_variant
from creatives.email import preview_email
from creatives.errors import CreativeError, Problem, Severity, ValidationFailed
from creatives.landing import render_page_html
from creatives.models import Creative, CreativeKind, CreativeVersion
from creatives.printing import render_print_pdf
from creatives.social import preview_social
from creatives.versions import create_creative, variant_content, version_summary

blp = Blueprint(
    "api_creatives",
    __name__,
    url_prefix="/api/v1/creatives",
    description="Creatives of every kind, their versions, and render previews.",
)


# --- schemas -------------------------------------------------------------------------------

_CONTENT_DOC = {
    "description": "the kind's content: email {subject, preheader, mjml, text}; social {text, "
    "link, media: [{asset_id, alt_text}], networks, mastodon_max_characters}; web {title, "
    "description, headline, body_html, hero_asset_id, cta_label, cta_url, links}; print "
    "{profile, headline, subheadline, body, call_to_action, hero_asset_id, qr_url, footer_note}"
}


class VariantSchema(ma.Schema):
    key = ma.fields.String(required=True, metadata={"description": "'' or a segment slug"})
    content = ma.fields.Dict(required=True, metadata=_CONTENT_DOC)


class VersionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    number = ma.fields.Integer(required=True)
    frozen_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "set when a campaign's approval froze it"}
    )
    published_at = ma.fields.DateTime(allow_none=True)
    updated_at = ma.fields.DateTime()
    variants = ma.fields.List(ma.fields.String())


class VersionDetailSchema(VersionSchema):
    variants = ma.fields.List(ma.fields.Nested(VariantSchema))


class ProblemItemSchema(ma.Schema):
    field = ma.fields.String()
    message = ma.fields.String()


class CreativeSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    kind = ma.fields.Enum(CreativeKind, by_value=True, required=True)
    brand_kit_id = ma.fields.Integer(allow_none=True)
    slug = ma.fields.String(allow_none=True, metadata={"description": "web pages: /p/<slug>"})
    current_version = ma.fields.Nested(VersionDetailSchema)
    warnings = ma.fields.List(ma.fields.Nested(ProblemItemSchema))
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class CreativeInSchema(ApiSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    kind = ma.fields.Enum(CreativeKind, by_value=True, required=True)
    brand_kit_id = id_field(allow_none=True)
    slug = ma.fields.String(validate=ma.validate.Length(max=100))
    content = ma.fields.Dict(metadata=_CONTENT_DOC)


class CreativePatchSchema(ApiSchema):
    name = ma.fields.String(validate=ma.validate.Length(max=200))
    variant = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=100),
        metadata={"description": "which variant `content` is for: '' or a segment slug (email)"},
    )
    content = ma.fields.Dict(metadata=_CONTENT_DOC)


class CreativeListQuery(PageQuerySchema):
    kind = ma.fields.Enum(CreativeKind, by_value=True)
    q = ma.fields.String(validate=ma.validate.Length(max=200), metadata={"description": "name"})


class PreviewQuery(ApiSchema):
    variant = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    contact = id_field(
        metadata={"description": "email: render for this contact instead of a sample recipient"}
    )
    network = ma.fields.String(
        validate=ma.validate.Length(max=40), metadata={"description": "social: only this one"}
    )


class NetworkPreviewSchema(ma.Schema):
    network = ma.fields.String()
    label = ma.fields.String()
    text = ma.fields.String(metadata={"description": "as published"})
    length = ma.fields.Integer(metadata={"description": "as the network counts it"})
    limit = ma.fields.Integer()
    problems = ma.fields.List(ma.fields.String())


class PreviewSchema(ma.Schema):
    kind = ma.fields.Enum(CreativeKind, by_value=True, required=True)
    version_id = ma.fields.Integer(required=True)
    problems = ma.fields.List(ma.fields.Nested(ProblemItemSchema))
    subject = ma.fields.String(metadata={"description": "email"})
    html = ma.fields.String(metadata={"description": "email and web"})
    text = ma.fields.String(metadata={"description": "email: the plain-text part"})
    networks = ma.fields.List(
        ma.fields.Nested(NetworkPreviewSchema), metadata={"description": "social"}
    )
    pdf_url = ma.fields.String(metadata={"description": "print: the PDF preview"})


class PdfPreviewQuery(ApiSchema):
    partner = ma.fields.String(
        validate=ma.validate.Length(max=64), metadata={"description": "one co-brand partner's key"}
    )
    profile = ma.fields.String(validate=ma.validate.Length(max=64))
    crop_marks = ma.fields.Boolean(load_default=False)


CREATIVE_SORTS = SortOrders(
    Creative.id, {"id": Creative.id, "updated_at": Creative.updated_at}, default="-id"
)


# --- representation ------------------------------------------------------------------------


def _version(version: CreativeVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "number": version.number,
        "frozen_at": version.frozen_at,
        "published_at": version.published_at,
        "updated_at": version.updated_at,
        "variants": [{"key": v.key, "content": v.content} for v in version.variants],
    }


def represent(creative: Creative, warnings: list[Problem] = ()) -> dict[str, Any]:
    return {
        "id": creative.id,
        "name": creative.name,
        "kind": creative.kind,
        "brand_kit_id": creative.brand_kit_id,
        "slug": creative.slug,
        "current_version": _version(creative.current_version),
        "warnings": [{"field": p.field, "message": p.message} for p in warnings],
        "created_at": creative.created_at,
        "updated_at": creative.updated_at,
    }


def _etag_view(creative: Creative) -> dict[str, Any]:
    """What the ETag covers: the creative without the warnings of the last save."""
    return CreativeSchema().dump({**represent(creative), "warnings": []})


def _creative_or_404(creative_id: int) -> Creative:
    creative = db.session.get(Creative, creative_id)
    if creative is None:
        raise ApiProblem(404, f"There is no creative #{creative_id}.")
    return creative


def _creative_response(creative: Creative, status: int = 200, warnings=()) -> Response:
    location = (
        url_for("api_creatives.get_creative", creative_id=creative.id) if status == 201 else None
    )
    response = json_response(
        CreativeSchema(), represent(creative, list(warnings)), status=status, location=location
    )
    # The same ETag a GET gives, whatever the warnings.
    response.headers["ETag"] = etag_of(_etag_view(creative))
    return response


def _content(kind: CreativeKind, raw: dict[str, Any]) -> Any:
    """The kind's content dataclass from JSON, or 422 naming the fields it does not know."""
    known = {f.name for f in dataclasses.fields(CONTENT_CLASSES[kind])}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ApiProblem(
            422,
            f"A {kind.value} creative's content has no field {', '.join(unknown)}.",
            errors=[FieldError(f"content.{name}", "unknown field") for name in unknown],
        )
    try:
        return content_from_dict(kind, raw)
    except (TypeError, ValueError) as exc:
        raise ApiProblem(
            422,
            f"The content does not have the shape a {kind.value} creative needs: {exc}.",
            errors=[FieldError("content", str(exc))],
        ) from None


def _validation_problem(failure: ValidationFailed) -> ApiProblem:
    errors = [p for p in failure.problems if p.severity is Severity.ERROR]
    count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    return ApiProblem(
        422,
        f"The content has {count}; nothing was saved.",
        errors=[
            FieldError(f"content.{p.field}" if p.field else "content", p.message) for p in errors
        ],
    )


def _creative_problem(exc: CreativeError, field: str) -> ApiProblem:
    return ApiProblem(422, str(exc), errors=[FieldError(field, str(exc))])


# --- views ---------------------------------------------------------------------------------


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(CreativeListQuery, location="query")
@blp.response(200, page_schema(CreativeSchema, "CreativePage"))
def list_creatives(args: dict[str, Any]):
    """Creatives, newest first; filter by kind or words in the name."""
    query = select(Creative)
    if args.get("kind"):
        query = query.where(Creative.kind == args["kind"])
    for word in args.get("q", "").split():
        query = query.where(func.lower(Creative.name).like(f"%{word.lower()}%"))
    page = keyset_page(db.session, query, CREATIVE_SORTS, args)
    page = type(page)([represent(c) for c in page.items], page.next_cursor)
    return page_response(CreativeSchema(), page)


@blp.route("", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(CreativeInSchema)
@blp.response(201, CreativeSchema)
@idempotent
def create(data: dict[str, Any]):
    """Create a creative; with `content`, its first version is saved with the editor's checks."""
    kind = data["kind"]
    content = _content(kind, data["content"]) if "content" in data else None
    try:
        creative = create_creative(
            db.session,
            data["name"],
            kind,
            brand_kit_id=data.get("brand_kit_id"),
            slug=data.get("slug"),
        )
    except CreativeError as exc:
        text = str(exc)
        field = "slug" if "address" in text else "brand_kit_id" if "brand kit" in text else "name"
        raise _creative_problem(exc, field) from None
    warnings: list[Problem] = []
    if content is not None:
        try:
            _, warnings = save_variant(db.session, creative.id, "", content)
        except ValidationFailed as failure:
            db.session.rollback()
            raise _validation_problem(failure) from None
    db.session.commit()
    return _creative_response(creative, 201, warnings)


@blp.route("/<id:creative_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, CreativeSchema)
def get_creative(creative_id: int):
    """One creative with its current version's variants, and its ETag for a later PATCH."""
    return _creative_response(_creative_or_404(creative_id))


@blp.route("/<id:creative_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(CreativePatchSchema)
@blp.response(200, CreativeSchema)
def patch_creative(data: dict[str, Any], creative_id: int):
    """Rename, and/or save one variant's content (a new email variant is made on first save);
    needs If-Match. A version a campaign's approval froze stays as it was: the save makes a
    new version, and campaigns pick it up only when approved again."""
    creative = _creative_or_404(creative_id)
    require_if_match(_etag_view(creative))
    warnings: list[Problem] = []
    try:
        if "name" in data:
            rename_creative(db.session, creative.id, data["name"])
    except CreativeError as exc:
        raise _creative_problem(exc, "name") from None
    if "content" in data:
        content = _content(creative.kind, data["content"])
        try:
            _, warnings = save_variant(db.session, creative.id, data["variant"], content)
        except ValidationFailed as failure:
            db.session.rollback()
            raise _validation_problem(failure) from None
        except CreativeError as exc:
            db.session.rollback()
            raise _creative_problem(exc, "variant") from None
    db.session.commit()
    db.session.refresh(creative)
    return _creative_response(creative, warnings=warnings)


@blp.route("/<id:creative_id>/variants/<key>", methods=["DELETE"])
@api_access(*EDITORS)
@blp.response(200, CreativeSchema)
def delete_variant(creative_id: int, key: str):
    """Remove an email's segment variant (not the default one); needs If-Match."""
    creative = _creative_or_404(creative_id)
    require_if_match(_etag_view(creative))
    try:
        remove_variant(db.session, creative.id, key)
    except CreativeError as exc:
        raise ApiProblem(409 if "default" in str(exc) else 404, str(exc)) from None
    db.session.commit()
    db.session.refresh(creative)
    return _creative_response(creative)


@blp.route("/<id:creative_id>/versions", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, VersionSchema(many=True))
def list_versions(creative_id: int):
    """Every version, newest first: which are frozen (approved for a campaign) or published."""
    _creative_or_404(creative_id)
    return json_response(
        VersionSchema(many=True), version_summary(db.session, creative_id), etag=False
    )


@blp.route("/<id:creative_id>/versions/<id:number>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, VersionDetailSchema)
def get_version(creative_id: int, number: int):
    """One version with its variants' content, as it was (or is) sent."""
    version = db.session.scalar(
        select(CreativeVersion).where(
            CreativeVersion.creative_id == creative_id, CreativeVersion.number == number
        )
    )
    if version is None:
        raise ApiProblem(404, f"Creative #{creative_id} has no version {number}.")
    return json_response(VersionDetailSchema(), _version(version))


def _sample_recipient(contact_id: int | None) -> dict[str, Any]:
    if contact_id is None:
        return {}
    recipient = recipient_for(db.session, contact_id, "email")
    if recipient is None:
        raise ApiProblem(
            422,
            f"There is no contact #{contact_id}.",
            errors=[FieldError("query.contact", "no such contact")],
        )
    return {
        **recipient.attributes,
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "email": recipient.email or "",
        "school": recipient.school,
        "region": recipient.region,
    }


@blp.route("/<id:creative_id>/preview", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PreviewQuery, location="query")
@blp.response(200, PreviewSchema)
def preview(args: dict[str, Any], creative_id: int):
    """The current version as its audience sees it: an email's subject, HTML and text (for a
    sample recipient, or `contact`), each social network's post, a web page's HTML; a print
    piece answers with the address of its PDF preview."""
    creative = _creative_or_404(creative_id)
    version = creative.current_version
    content = variant_content(version, args["variant"])
    body: dict[str, Any] = {"kind": creative.kind, "version_id": version.id, "problems": []}
    if isinstance(content, EmailContent):
        rendered, problems = preview_email(content, _sample_recipient(args.get("contact")))
        body["problems"] = [{"field": p.field, "message": p.message} for p in problems]
        if rendered is not None:
            body.update(subject=rendered.subject, html=rendered.html, text=rendered.text)
    elif isinstance(content, SocialContent):
        previews = preview_social(db.session, content)
        if args.get("network"):
            previews = [p for p in previews if p.network.value == args["network"]]
            if not previews:
                raise ApiProblem(
                    422,
                    f"This post is not for {args['network']}; it is for "
                    f"{', '.join(content.networks) or 'no network yet'}.",
                    errors=[FieldError("query.network", "not one of the post's networks")],
                )
        body["networks"] = [
            {
                "network": p.network.value,
                "label": p.label,
                "text": p.text,
                "length": p.length,
                "limit": p.limit,
                "problems": p.problems,
            }
            for p in previews
        ]
    elif isinstance(content, WebContent):
        body["html"] = render_page_html(db.session, content, creative.brand_kit, {})
    else:
        body["pdf_url"] = url_for("api_creatives.preview_pdf", creative_id=creative.id)
    return json_response(PreviewSchema(), body, etag=False)


@blp.route("/<id:creative_id>/preview.pdf", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PdfPreviewQuery, location="query")
@blp.response(200, description="application/pdf")
def preview_pdf(args: dict[str, Any], creative_id: int):
    """A print piece's current version as its print-ready PDF (every co-brand partner, or
    one `partner`), in its profile's trim size with bleed."""
    creative = _creative_or_404(creative_id)
    if creative.kind is not CreativeKind.PRINT:
        raise ApiProblem(404, f"Creative #{creative_id} is {creative.kind.value}, not print.")
    partner = args.get("partner")
    try:
        (pdf,) = render_print_pdf(
            db.session,
            creative.current_version.id,
            profile=args.get("profile") or None,
            variant_keys=[partner] if partner is not None else None,
            crop_marks=args["crop_marks"],
        )
    except CreativeError as exc:
        raise ApiProblem(422, str(exc)) from None
    response = Response(pdf.data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{pdf.filename}"'
    return response
