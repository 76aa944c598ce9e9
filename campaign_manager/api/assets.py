"""Assets: the library of images and PDFs creatives use. Upload (multipart), metadata, download.

An upload is checked exactly as in the UI, by `creatives.assets.upload_asset`: the bytes say
what the file is (PNG, JPEG, WebP, GIF or PDF; never SVG), whatever the client claims, and a
file name whose extension says otherwise is refused. The same bytes twice give the existing
asset (200 instead of 201): the library is content-addressed.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, request, url_for
from flask_smorest.fields import Upload

from campaign_manager.api.auth import api_access
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.conditional import require_if_match
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.core.storage import BlobNotFound, storage_of
from campaign_manager.extensions import db
from campaign_manager.web.authz import EDITORS, STAFF
from creatives.assets import assets_query, update_asset, upload_asset
from creatives.errors import CreativeError
from creatives.models import Asset, AssetKind

blp = Blueprint(
    "api_assets",
    __name__,
    url_prefix="/api/v1/assets",
    description="The asset library: images and PDFs, uploaded as multipart/form-data.",
)

MULTIPART = "multipart/form-data"


class AssetSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    sha256 = ma.fields.String(required=True)
    kind = ma.fields.Enum(AssetKind, by_value=True)
    mime = ma.fields.String(metadata={"description": "what the bytes are, not what was claimed"})
    size_bytes = ma.fields.Integer()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    page_count = ma.fields.Integer()
    filename = ma.fields.String()
    title = ma.fields.String()
    alt_text = ma.fields.String()
    licence = ma.fields.String()
    credit = ma.fields.String()
    tags = ma.fields.List(ma.fields.String())
    download_url = ma.fields.String(metadata={"description": "the file, with a token"})
    public_url = ma.fields.String(
        metadata={"description": "the public address emails and pages load it from"}
    )
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


def _text(max_length: int, **kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(max=max_length), **kwargs)


class AssetMetadataSchema(ApiSchema):
    title = _text(200)
    alt_text = _text(2000)
    tags = _text(500)
    licence = _text(200)
    credit = _text(300)


class AssetUploadSchema(AssetMetadataSchema):
    """The multipart body: the file, and its metadata (`tags` comma-separated)."""

    file = Upload(required=True, metadata={"description": "PNG, JPEG, WebP, GIF or PDF"})


class AssetPatchSchema(ApiSchema):
    title = _text(200)
    alt_text = _text(2000)
    tags = ma.fields.List(_text(64), validate=ma.validate.Length(max=20))
    licence = _text(200)
    credit = _text(300)


class AssetListQuery(PageQuerySchema):
    kind = ma.fields.Enum(AssetKind, by_value=True)
    tag = _text(64)
    q = _text(200, metadata={"description": "words in the title, file name, alt text or credit"})


ASSET_SORTS = SortOrders(Asset.id, {"id": Asset.id, "updated_at": Asset.updated_at}, default="-id")


def represent(asset: Asset) -> dict[str, Any]:
    base = current_app.extensions["settings"].app.base_url.rstrip("/")
    return {
        **{
            name: getattr(asset, name)
            for name in AssetSchema().fields
            if hasattr(Asset, name) and not name.endswith("_url")
        },
        "download_url": url_for("api_assets.download", asset_id=asset.id),
        "public_url": base
        + url_for("public_pages.media", name=f"{asset.sha256}.{asset.extension}"),
    }


def _asset_or_404(asset_id: int) -> Asset:
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        raise ApiProblem(404, f"There is no asset #{asset_id}.")
    return asset


def _asset_response(asset: Asset, status: int = 200) -> Response:
    location = url_for("api_assets.get_asset", asset_id=asset.id) if status == 201 else None
    return json_response(AssetSchema(), represent(asset), status=status, location=location)


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(AssetListQuery, location="query")
@blp.response(200, page_schema(AssetSchema, "AssetPage"))
def list_assets(args: dict[str, Any]):
    """The library, newest first; filter by kind, tag or words."""
    query = assets_query(kind=args.get("kind"), tag=args.get("tag", ""), text=args.get("q", ""))
    page = keyset_page(db.session, query, ASSET_SORTS, args)
    page = type(page)([represent(a) for a in page.items], page.next_cursor)
    return page_response(AssetSchema(), page)


@blp.route("", methods=["POST"])
@api_access(*EDITORS, accepts=(MULTIPART,))
@blp.arguments(AssetUploadSchema, location="form_and_files")
@blp.response(201, AssetSchema)
@blp.alt_response(200, schema=AssetSchema, description="The same file was already there")
@idempotent
def upload(form: dict[str, Any]):
    """Upload a file as multipart/form-data (`file`, plus optional title, alt_text, tags,
    licence, credit). 201 for a new asset, 200 with the existing one for the same bytes."""
    upload_file = form.pop("file")
    try:
        result = upload_asset(
            db.session,
            upload_file.read(),
            limits=current_app.extensions["settings"].assets,
            filename=upload_file.filename or "",
            **{name: form.get(name, "") for name in AssetMetadataSchema().fields},
        )
    except CreativeError as exc:
        db.session.rollback()
        raise ApiProblem(422, str(exc), errors=[FieldError("file", str(exc))]) from None
    db.session.commit()
    return _asset_response(result.asset, 201 if result.created else 200)


@blp.route("/<id:asset_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, AssetSchema)
def get_asset(asset_id: int):
    """One asset's metadata, with its ETag for a later PATCH."""
    return _asset_response(_asset_or_404(asset_id))


@blp.route("/<id:asset_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(AssetPatchSchema)
@blp.response(200, AssetSchema)
def patch_asset(data: dict[str, Any], asset_id: int):
    """Change the metadata sent (tags as a list replace the tags); needs If-Match. The file
    itself never changes: upload a new one."""
    asset = _asset_or_404(asset_id)
    require_if_match(AssetSchema().dump(represent(asset)))
    try:
        update_asset(
            db.session,
            asset_id,
            title=data.get("title", asset.title),
            alt_text=data.get("alt_text", asset.alt_text),
            tags=data.get("tags", asset.tags),
            licence=data.get("licence", asset.licence),
            credit=data.get("credit", asset.credit),
        )
    except CreativeError as exc:
        raise ApiProblem(422, str(exc), errors=[FieldError("tags", str(exc))]) from None
    db.session.commit()
    return _asset_response(asset)


@blp.route("/<id:asset_id>/file", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, description="The file itself, with its own content type")
def download(asset_id: int):
    """The file's bytes; the ETag is its SHA-256, so If-None-Match answers 304."""
    asset = _asset_or_404(asset_id)
    try:
        data = storage_of(db.session).get(asset.sha256)
    except BlobNotFound:
        raise ApiProblem(404, f"The file of asset #{asset_id} is missing from storage.") from None
    response = Response(data, mimetype=asset.mime)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="asset-{asset.id}.{asset.extension}"'
    )
    response.set_etag(asset.sha256)
    return response.make_conditional(request)
