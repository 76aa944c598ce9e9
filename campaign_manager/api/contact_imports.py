"""CSV import jobs: upload a file, follow its progress, read its rejected rows.

The import itself is audiences/importer.py, run in the background exactly as the web UI's
imports (campaign_manager/web/audiences.py: `start_import`), so a file imported through the
API behaves as one uploaded in the browser: batches commit whole, a stopped import resumes.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest.fields import Upload
from sqlalchemy import select

from audiences.contacts import AudienceError
from audiences.importer import (
    ImportFileError,
    create_import_job,
    is_interrupted,
    progress_of,
    queue_import,
)
from audiences.models import ImportJob, ImportReject
from campaign_manager.api.auth import api_access, current_api_user
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.extensions import db
from campaign_manager.web.audiences import start_import, uploads_dir
from campaign_manager.web.authz import EDITORS, STAFF

blp = Blueprint(
    "api_contact_imports",
    __name__,
    url_prefix="/api/v1/contact-imports",
    description="CSV imports of contacts, running in the background, with progress.",
)

IMPORT_STATUSES = ["draft", "queued", "running", "done", "failed", "interrupted"]


class ImportProgressSchema(ma.Schema):
    rows_done = ma.fields.Integer(required=True)
    imported = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    percent = ma.fields.Float(required=True)
    rows_per_second = ma.fields.Float(allow_none=True)
    seconds_left = ma.fields.Float(allow_none=True)


class ImportJobSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    filename = ma.fields.String(required=True)
    status = ma.fields.String(
        required=True,
        metadata={"enum": IMPORT_STATUSES, "description": "interrupted: stopped; resumable"},
    )
    header = ma.fields.List(ma.fields.String())
    mapping = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    update_existing = ma.fields.Boolean()
    progress = ma.fields.Nested(ImportProgressSchema, required=True)
    error = ma.fields.String()
    created_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)


class ImportUploadSchema(ApiSchema):
    file = Upload(required=True, metadata={"description": "the CSV file, with a header row"})
    mapping = ma.fields.String(
        validate=ma.validate.Length(max=20_000),
        metadata={
            "description": 'JSON object, CSV column -> field, e.g. {"E-mail": "email", '
            '"Club": "attributes.club"}, over the mapping suggested from the column '
            'names; "" leaves a column out'
        },
    )
    update_existing = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "update contacts already there (empty cells change nothing)"},
    )


class RejectSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    line = ma.fields.Integer(required=True, metadata={"description": "the header is line 1"})
    reason = ma.fields.String(required=True)
    values = ma.fields.List(ma.fields.String(), required=True)


JOB_SORTS = SortOrders(ImportJob.id, {"id": ImportJob.id}, default="-id")
REJECT_SORTS = SortOrders(ImportReject.id, {"id": ImportReject.id})


def _represent(job: ImportJob) -> dict[str, Any]:
    progress = progress_of(job)
    return {
        "id": job.id,
        "filename": job.filename,
        "status": "interrupted" if is_interrupted(job) else job.status.value,
        "header": job.header,
        "mapping": job.mapping,
        "update_existing": job.update_existing,
        "progress": {
            "rows_done": progress.rows_done,
            "imported": progress.imported,
            "updated": progress.updated,
            "rejected": progress.rejected,
            "percent": round(progress.fraction * 100, 1),
            "rows_per_second": round(progress.rate, 1) if progress.rate else None,
            "seconds_left": (
                round(progress.seconds_left) if progress.seconds_left is not None else None
            ),
        },
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def _job_or_404(job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None:
        raise ApiProblem(404, f"There is no import #{job_id}.")
    return job


def _parse_mapping(raw: str | None) -> dict[str, str] | None:
    if raw is None or not raw.strip():
        return None
    try:
        mapping = json.loads(raw)
    except ValueError as exc:
        raise ApiProblem(
            422, "The mapping is not valid JSON.", errors=[FieldError("mapping", str(exc))]
        ) from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ApiProblem(
            422,
            "The mapping is a JSON object of column names to field names.",
            errors=[FieldError("mapping", 'e.g. {"E-mail": "email"}')],
        )
    return mapping


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(ImportJobSchema, "ImportJobPage"))
def list_imports(args: dict[str, Any]):
    """Imports, newest first."""
    page = keyset_page(db.session, select(ImportJob), JOB_SORTS, args)
    items = [_represent(job) for job in page.items]
    return page_response(ImportJobSchema(), type(page)(items, page.next_cursor))


@blp.route("", methods=["POST"])
@api_access(*EDITORS, accepts=("multipart/form-data",))
@blp.arguments(ImportUploadSchema, location="form_and_files")
@blp.response(202, ImportJobSchema)
@idempotent
def start(options: dict[str, Any]):
    """Upload a CSV file and start importing it; poll the Location for progress."""
    mapping = _parse_mapping(options.get("mapping"))
    upload = options["file"]
    path = uploads_dir() / f"{secrets.token_hex(16)}.csv"
    upload.save(path)
    try:
        job, _preview = create_import_job(
            db.session, path, upload.filename or "upload.csv", created_by_id=current_api_user().id
        )
        queue_import(
            db.session,
            job,
            # The columns named override the suggested mapping; "" leaves a column out.
            {**job.mapping, **(mapping or {})},
            update_existing=options["update_existing"],
        )
    except ImportFileError as exc:
        path.unlink(missing_ok=True)
        raise ApiProblem(422, str(exc), errors=[FieldError("file", str(exc))]) from None
    except AudienceError as exc:
        path.unlink(missing_ok=True)
        raise ApiProblem(422, str(exc), errors=[FieldError("mapping", str(exc))]) from None
    db.session.commit()
    start_import(job)
    location = url_for("api_contact_imports.get_import", job_id=job.id)
    return json_response(ImportJobSchema(), _represent(job), status=202, location=location)


@blp.route("/<id:job_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, ImportJobSchema)
def get_import(job_id: int):
    """An import's status and progress."""
    return json_response(ImportJobSchema(), _represent(_job_or_404(job_id)))


@blp.route("/<id:job_id>/rejects", methods=["GET"])
@api_access(*EDITORS)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(RejectSchema, "RejectPage"))
def rejects(args: dict[str, Any], job_id: int):
    """The rows the import rejected, with the line and the reason (they hold personal data:
    editors only, as the rejects report in the UI)."""
    _job_or_404(job_id)
    query = select(ImportReject).where(ImportReject.job_id == job_id)
    return page_response(RejectSchema(), keyset_page(db.session, query, REJECT_SORTS, args))
