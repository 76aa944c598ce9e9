"""Print jobs, read-only for now: staff see every job, a vendor's token only its company's.

A vendor asking for another vendor's job gets 404, as in the vendor portal: it learns
nothing, not even that the job exists. Status changes and downloads are still the portal's
(campaign_manager/web/print_jobs.py); they come to the API with the rest of issue 9.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy.orm import selectinload

from campaign_manager.api.auth import api_access, current_api_user
from campaign_manager.api.blueprint import Blueprint
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.channels.print_jobs import (
    PrintFileKind,
    PrintJob,
    PrintJobNotFound,
    PrintJobStatus,
    visible_job,
    visible_jobs_query,
)
from campaign_manager.extensions import db
from campaign_manager.web.authz import EVERYONE

blp = Blueprint(
    "api_print_jobs",
    __name__,
    url_prefix="/api/v1/print-jobs",
    description="Print-ready files for vendors; a vendor's token sees its own company's only.",
)


class PrintJobFileSchema(ma.Schema):
    position = ma.fields.Integer(required=True)
    kind = ma.fields.Enum(PrintFileKind, by_value=True, required=True)
    filename = ma.fields.String(required=True)
    content_type = ma.fields.String(required=True)
    size = ma.fields.Integer(required=True)
    sha256 = ma.fields.String(required=True)
    pages = ma.fields.Integer(allow_none=True)


class PrintJobVendorSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class PrintJobSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Enum(PrintJobStatus, by_value=True, required=True)
    vendor = ma.fields.Nested(PrintJobVendorSchema, required=True)
    quantity = ma.fields.Integer(required=True)
    paper_stock = ma.fields.String()
    finishing = ma.fields.String()
    due_date = ma.fields.Date()
    ship_to = ma.fields.List(ma.fields.Dict())
    tracking_number = ma.fields.String()
    rejection_reason = ma.fields.String()
    files = ma.fields.List(ma.fields.Nested(PrintJobFileSchema))
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class PrintJobListQuery(PageQuerySchema):
    status = ma.fields.Enum(PrintJobStatus, by_value=True)


PRINT_JOB_SORTS = SortOrders(PrintJob.id, {"id": PrintJob.id}, default="-id")


@blp.route("", methods=["GET"])
@api_access(*EVERYONE)
@blp.arguments(PrintJobListQuery, location="query")
@blp.response(200, page_schema(PrintJobSchema, "PrintJobPage"))
def list_print_jobs(args: dict[str, Any]):
    """The jobs the token's user may see, newest first."""
    query = visible_jobs_query(current_api_user(), status=args.get("status")).options(
        selectinload(PrintJob.files), selectinload(PrintJob.vendor)
    )
    return page_response(PrintJobSchema(), keyset_page(db.session, query, PRINT_JOB_SORTS, args))


@blp.route("/<id:print_job_id>", methods=["GET"])
@api_access(*EVERYONE)
@blp.response(200, PrintJobSchema)
def get_print_job(print_job_id: int):
    """One job with its files; 404 for another vendor's job."""
    try:
        job = visible_job(db.session, current_api_user(), print_job_id)
    except PrintJobNotFound:
        raise ApiProblem(404, f"There is no print job #{print_job_id}.") from None
    return json_response(PrintJobSchema(), job)
