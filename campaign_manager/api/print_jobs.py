"""Print jobs: staff follow them, vendors work through their own.

A vendor's token sees only its own company's jobs. Another vendor's job answers 404 exactly
as a job that does not exist, never 403, so ids reveal nothing: every look-up goes through
`channels.print_jobs.visible_job` / `visible_file`, as the vendor portal's do. Status changes
go through `change_status`, with the portal's rules (only the vendor's users and admins).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, url_for
from sqlalchemy.orm import selectinload

from campaign_manager.api.auth import api_access, current_api_user
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.conditional import check_if_match_when_sent
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.channels.print_jobs import (
    MAX_REASON_LENGTH,
    MAX_TRACKING_LENGTH,
    PrintFileKind,
    PrintJob,
    PrintJobError,
    PrintJobFile,
    PrintJobNotFound,
    PrintJobStatus,
    change_status,
    visible_file,
    visible_job,
    visible_jobs_query,
)
from campaign_manager.extensions import db
from campaign_manager.web.authz import EVERYONE
from campaign_manager.web.print_jobs import CHANGERS, stream_job_file

blp = Blueprint(
    "api_print_jobs",
    __name__,
    url_prefix="/api/v1/print-jobs",
    description="Print jobs and their files; a vendor's token sees only its own jobs.",
)


class PrintFileSchema(ma.Schema):
    position = ma.fields.Integer(required=True)
    kind = ma.fields.Enum(PrintFileKind, by_value=True, required=True)
    filename = ma.fields.String(required=True)
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    pages = ma.fields.Integer(allow_none=True)
    variant_keys = ma.fields.List(ma.fields.String())
    url = ma.fields.String(metadata={"description": "where to download it"})


class PrintJobEventSchema(ma.Schema):
    created_at = ma.fields.DateTime()
    actor = ma.fields.String()
    from_status = ma.fields.Enum(PrintJobStatus, by_value=True, allow_none=True)
    to_status = ma.fields.Enum(PrintJobStatus, by_value=True)
    note = ma.fields.String()


class PrintJobVendorSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class PrintJobSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    vendor = ma.fields.Nested(PrintJobVendorSchema, required=True)
    step_id = ma.fields.Integer(allow_none=True)
    title = ma.fields.String()
    status = ma.fields.Enum(PrintJobStatus, by_value=True, required=True)
    next_statuses = ma.fields.List(ma.fields.Enum(PrintJobStatus, by_value=True))
    quantity = ma.fields.Integer()
    profile = ma.fields.String()
    paper_stock = ma.fields.String()
    finishing = ma.fields.String()
    ship_to = ma.fields.List(ma.fields.Dict())
    due_date = ma.fields.Date()
    manifest = ma.fields.Dict()
    tracking_number = ma.fields.String()
    rejection_reason = ma.fields.String()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    files = ma.fields.List(ma.fields.Nested(PrintFileSchema))
    history = ma.fields.List(ma.fields.Nested(PrintJobEventSchema))


class PrintJobListQuery(PageQuerySchema):
    status = ma.fields.Enum(PrintJobStatus, by_value=True)


class PrintJobRejectSchema(ApiSchema):
    reason = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=MAX_REASON_LENGTH)
    )


class PrintJobShipSchema(ApiSchema):
    tracking_number = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=MAX_TRACKING_LENGTH)
    )


PRINT_JOB_SORTS = SortOrders(
    PrintJob.id, {"id": PrintJob.id, "updated_at": PrintJob.updated_at}, default="-id"
)


def _represent_file(job_file: PrintJobFile) -> dict[str, Any]:
    return {
        **{name: getattr(job_file, name) for name in PrintFileSchema().fields if name != "url"},
        "url": url_for(
            "api_print_jobs.download", print_job_id=job_file.job_id, position=job_file.position
        ),
    }


def represent(job: PrintJob) -> dict[str, Any]:
    return {
        **{name: getattr(job, name) for name in PrintJobSchema().fields if hasattr(PrintJob, name)},
        "vendor": {"id": job.vendor_id, "name": job.vendor.name},
        "next_statuses": sorted(job.next_statuses),
        "files": [_represent_file(f) for f in job.files],
        "history": job.history,
    }


def _job_or_404(print_job_id: int) -> PrintJob:
    try:
        return visible_job(db.session, current_api_user(), print_job_id)
    except PrintJobNotFound:
        raise ApiProblem(404, f"There is no print job #{print_job_id}.") from None


@blp.route("", methods=["GET"])
@api_access(*EVERYONE)
@blp.arguments(PrintJobListQuery, location="query")
@blp.response(200, page_schema(PrintJobSchema, "PrintJobPage"))
def list_print_jobs(args: dict[str, Any]):
    """The jobs this token may see (a vendor: its own company's), newest first."""
    query = visible_jobs_query(current_api_user(), status=args.get("status")).options(
        selectinload(PrintJob.files), selectinload(PrintJob.vendor), selectinload(PrintJob.history)
    )
    page = keyset_page(db.session, query, PRINT_JOB_SORTS, args)
    page = type(page)([represent(job) for job in page.items], page.next_cursor)
    return page_response(PrintJobSchema(), page)


@blp.route("/<id:print_job_id>", methods=["GET"])
@api_access(*EVERYONE)
@blp.response(200, PrintJobSchema)
def get_print_job(print_job_id: int):
    """One job with its files and history; 404 for another vendor's job."""
    return json_response(PrintJobSchema(), represent(_job_or_404(print_job_id)))


@blp.route("/<id:print_job_id>/files/<int:position>", methods=["GET"])
@api_access(*EVERYONE)
@blp.response(200, description="The file (PDF, manifest JSON or CSV, or zip), streamed")
def download(print_job_id: int, position: int):
    """Download one file of a job; a vendor's first download marks the job downloaded.

    Answers with Repr-Digest and X-Checksum-SHA256, and resumes with Range.
    """
    user = current_api_user()
    try:
        job_file = visible_file(db.session, user, print_job_id, position)
    except PrintJobNotFound:
        raise ApiProblem(404, f"Print job #{print_job_id} has no file {position}.") from None
    return stream_job_file(job_file, user)


def _download_kind(print_job_id: int, kind: PrintFileKind) -> Response:
    job = _job_or_404(print_job_id)
    for job_file in job.files:
        if job_file.kind is kind:
            return stream_job_file(job_file, current_api_user())
    raise ApiProblem(404, f"Print job #{print_job_id} has no {kind.label.lower()}.")


@blp.route("/<id:print_job_id>/pdf", methods=["GET"])
@api_access(*EVERYONE)
@blp.response(200, description="The print-ready PDF")
def download_pdf(print_job_id: int):
    """The job's print-ready PDF (its first file of kind pdf)."""
    return _download_kind(print_job_id, PrintFileKind.PDF)


@blp.route("/<id:print_job_id>/manifest", methods=["GET"])
@api_access(*EVERYONE)
@blp.response(200, description="The manifest as JSON")
def download_manifest(print_job_id: int):
    """The job's manifest (JSON): what to print, how many, and where to ship it."""
    return _download_kind(print_job_id, PrintFileKind.MANIFEST_JSON)


def _change(print_job_id: int, to: PrintJobStatus, **details: str) -> Response:
    job = _job_or_404(print_job_id)
    check_if_match_when_sent(PrintJobSchema().dump(represent(job)))
    try:
        change_status(db.session, job, to, current_api_user(), **details)
    except PrintJobNotFound:
        raise ApiProblem(404, f"There is no print job #{print_job_id}.") from None
    except PrintJobError as exc:
        db.session.rollback()
        field = next(iter(details), None)
        errors = [FieldError(field, str(exc))] if field and not details[field].strip() else []
        raise ApiProblem(409 if not errors else 422, str(exc), errors=errors) from None
    db.session.commit()
    return json_response(PrintJobSchema(), represent(job))


@blp.route("/<id:print_job_id>/accept", methods=["POST"])
@api_access(*CHANGERS)
@blp.response(200, PrintJobSchema)
@idempotent
def accept(print_job_id: int):
    """Downloaded → accepted: the vendor will print it."""
    return _change(print_job_id, PrintJobStatus.ACCEPTED)


@blp.route("/<id:print_job_id>/reject", methods=["POST"])
@api_access(*CHANGERS)
@blp.arguments(PrintJobRejectSchema)
@blp.response(200, PrintJobSchema)
@idempotent
def reject(data: dict[str, Any], print_job_id: int):
    """Reject the job (until it is printed), saying why so the marketer can fix it."""
    return _change(print_job_id, PrintJobStatus.REJECTED, reason=data["reason"])


@blp.route("/<id:print_job_id>/printed", methods=["POST"])
@api_access(*CHANGERS)
@blp.response(200, PrintJobSchema)
@idempotent
def printed(print_job_id: int):
    """Accepted → printed."""
    return _change(print_job_id, PrintJobStatus.PRINTED)


@blp.route("/<id:print_job_id>/shipped", methods=["POST"])
@api_access(*CHANGERS)
@blp.arguments(PrintJobShipSchema)
@blp.response(200, PrintJobSchema)
@idempotent
def shipped(data: dict[str, Any], print_job_id: int):
    """Printed → shipped, with the shipment's tracking number."""
    return _change(print_job_id, PrintJobStatus.SHIPPED, tracking_number=data["tracking_number"])
