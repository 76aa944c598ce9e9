"""The print-job portal: vendors download, accept or reject, and report printing and
shipping; staff follow each job's status and history on the same pages.

Isolation: every lookup goes through `channels.print_jobs.visible_job` / `visible_file`, which
treat another vendor's job as missing, so a vendor gets 404 for it and learns nothing.
Files are streamed from the file storage by job id and position, never by a client-given
name or path, and never through the public /media route.
"""

from __future__ import annotations

import base64
import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from campaign_manager.channels.print_jobs import (
    MAX_REASON_LENGTH,
    MAX_TRACKING_LENGTH,
    PrintFileKind,
    PrintJobError,
    PrintJobFile,
    PrintJobNotFound,
    PrintJobStatus,
    change_status,
    record_download,
    visible_file,
    visible_job,
    visible_jobs_page,
)
from campaign_manager.core.accounts import Role, User
from campaign_manager.core.storage import BlobNotFound, storage_of
from campaign_manager.extensions import db
from campaign_manager.web.authz import EVERYONE, requires_role

log = logging.getLogger(__name__)

# Jobs per page of the list (newest first, by keyset).
PAGE_SIZE = 50

bp = Blueprint("print_jobs", __name__, url_prefix="/print-jobs")

# Only the vendor's users change a job (admins too: requires_role always lets them in).
CHANGERS = (Role.VENDOR,)


class ActionForm(FlaskForm):
    """Only the CSRF token: accept, printed."""


class RejectForm(FlaskForm):
    reason = TextAreaField(
        "Why are you rejecting this job?",
        validators=[
            DataRequired(message="Say why the job is rejected, so the marketer can fix it."),
            Length(max=MAX_REASON_LENGTH),
        ],
    )


class ShipForm(FlaskForm):
    tracking_number = StringField(
        "Tracking number",
        validators=[
            DataRequired(message="Enter the shipment's tracking number."),
            Length(max=MAX_TRACKING_LENGTH),
        ],
    )


def _job_or_404(job_id: int):
    try:
        return visible_job(db.session, current_user, job_id)
    except PrintJobNotFound:
        abort(404)


# "" rather than "/": the address is /print-jobs, as the navigation has always linked it.
@bp.route("")
@requires_role(*EVERYONE)
def index():
    raw = request.args.get("status", "")
    # An unknown status in the address shows every job rather than an error page.
    status = PrintJobStatus(raw) if raw in {s.value for s in PrintJobStatus} else None
    before_id = request.args.get("before", type=int)
    page = visible_jobs_page(
        db.session, current_user, status=status, before_id=before_id, limit=PAGE_SIZE
    )
    return render_template(
        "print_jobs/index.html",
        jobs=page.jobs,
        next_before_id=page.next_before_id,
        paged=before_id,
        statuses=list(PrintJobStatus),
        status=status,
    )


@bp.route("/<int:job_id>")
@requires_role(*EVERYONE)
def job(job_id: int):
    print_job = _job_or_404(job_id)
    return render_template(
        "print_jobs/job.html",
        job=print_job,
        action=ActionForm(),
        reject_form=RejectForm(),
        ship_form=ShipForm(),
        Status=PrintJobStatus,
        FileKind=PrintFileKind,
    )


@bp.route("/<int:job_id>/files/<int:position>")
@requires_role(*EVERYONE)
def download(job_id: int, position: int):
    """Stream one file of a job, with its name and SHA-256; a vendor's first download moves
    the job from ready to downloaded."""
    try:
        job_file = visible_file(db.session, current_user, job_id, position)
    except PrintJobNotFound:
        abort(404)
    return stream_job_file(job_file, current_user)


def stream_job_file(job_file: PrintJobFile, user: User):
    """The file as a streamed download, with its name, length and SHA-256; Range requests
    resume it and If-None-Match answers 304. The API's downloads answer the same way.

    A vendor's first download moves the job from ready to downloaded (committed here).
    """
    try:
        stream = storage_of(db.session).open(job_file.sha256)
    except BlobNotFound:
        log.error(
            "print job %s: file %s is missing from the storage", job_file.job_id, job_file.sha256
        )
        abort(404)
    if record_download(db.session, job_file, user):
        db.session.commit()
    response = send_file(
        stream,
        mimetype=job_file.content_type,
        as_attachment=True,
        download_name=job_file.download_name,
        etag=job_file.sha256,
        max_age=0,
        conditional=False,
    )
    response.content_length = job_file.size
    try:
        # With the length known, a Range request resumes a large download (206), and
        # If-None-Match answers 304 for a file the client already has.
        response = response.make_conditional(
            request.environ, accept_ranges=True, complete_length=job_file.size
        )
    except RequestedRangeNotSatisfiable:
        stream.close()
        raise
    digest = base64.b64encode(bytes.fromhex(job_file.sha256)).decode("ascii")
    # RFC 9530's digest of the file, and the plain hex form most tools compare against.
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    response.headers["X-Checksum-SHA256"] = job_file.sha256
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _change(job_id: int, to: PrintJobStatus, form: FlaskForm, **details: str):
    print_job = _job_or_404(job_id)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("print_jobs.job", job_id=job_id))
    try:
        change_status(db.session, print_job, to, current_user, **details)
    except PrintJobNotFound:
        abort(404)
    except PrintJobError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("print_jobs.job", job_id=job_id))
    db.session.commit()
    flash(f"Print job #{job_id} is now {to.value}.", "success")
    return redirect(url_for("print_jobs.job", job_id=job_id))


@bp.post("/<int:job_id>/accept")
@requires_role(*CHANGERS)
def accept(job_id: int):
    return _change(job_id, PrintJobStatus.ACCEPTED, ActionForm())


@bp.post("/<int:job_id>/reject")
@requires_role(*CHANGERS)
def reject(job_id: int):
    form = RejectForm()
    return _change(job_id, PrintJobStatus.REJECTED, form, reason=form.reason.data or "")


@bp.post("/<int:job_id>/printed")
@requires_role(*CHANGERS)
def printed(job_id: int):
    return _change(job_id, PrintJobStatus.PRINTED, ActionForm())


@bp.post("/<int:job_id>/shipped")
@requires_role(*CHANGERS)
def shipped(job_id: int):
    form = ShipForm()
    return _change(
        job_id, PrintJobStatus.SHIPPED, form, tracking_number=form.tracking_number.data or ""
    )
