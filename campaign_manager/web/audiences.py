"""Audiences: contacts, segments and their builder, CSV imports, and the suppression list.

Imports run in a small thread pool owned by this module (one per app), calling the plain
service `audiences.importer.run_import` with the app's session factory; a separate worker
process could run the same function on the same job later.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from audiences.contacts import (
    AudienceError,
    ContactFilter,
    age_band,
    consent_history,
    distinct_values,
    email_hash,
    list_contacts,
    record_consent,
    tags_of,
)
from audiences.export import export_contacts_csv
from audiences.importer import (
    FIELD_LABELS,
    ImportFileError,
    create_import_job,
    inspect_csv,
    is_interrupted,
    prepare_resume,
    progress_of,
    queue_import,
    rejects_csv,
    run_import,
)
from audiences.models import (
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactRole,
    ImportJob,
    ImportStatus,
    Segment,
    Suppression,
    SuppressionReason,
)
from audiences.privacy import erase_contact, export_contact_data
from audiences.recipients import recipient_for
from audiences.segments import (
    SegmentRuleError,
    builder_schema,
    compile_condition,
    count_members,
    count_segment,
    create_segment,
    delete_segment,
    parse_rule,
    preview_members,
    segments_referring_to,
    today_utc,
    update_segment,
)
from audiences.suppression import lift_suppression, suppress, suppression_for
from campaign_manager.extensions import db
from campaign_manager.web.authz import ADMINS_ONLY, EDITORS, STAFF, requires_role
from campaign_manager.web.counts import counts_cache
from campaign_manager.web.settings import EmptyForm

log = logging.getLogger(__name__)

bp = Blueprint("audiences", __name__, url_prefix="/audiences")

PAGE_SIZE = 50
# What staff may lift from the suppression list; the contact lifts their own unsubscribe.
STAFF_LIFTABLE = (SuppressionReason.MANUAL, SuppressionReason.BOUNCED)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"format_time": format_time}


def format_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _staff_source() -> str:
    return f"staff: {current_user.email}"


# --- contacts ------------------------------------------------------------------------------


class ContactFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    q = StringField("Search", validators=[Optional(), Length(max=200)])
    role = SelectField(
        "Role",
        choices=[SelectChoice("", "Any role")]
        + [SelectChoice(r.value, r.value.capitalize()) for r in ContactRole],
        validators=[Optional()],
    )
    school = SelectField("School", choices=[], validators=[Optional()], validate_choice=False)
    region = SelectField("Region", choices=[], validators=[Optional()], validate_choice=False)
    consent_email = SelectField(
        "Email consent",
        choices=[SelectChoice("", "Any")] + [SelectChoice(s.value, s.value) for s in ConsentStatus],
        validators=[Optional()],
    )


@bp.route("/")
@requires_role(*STAFF)
def contacts():
    form = ContactFilterForm(request.args)
    # The pick-lists walk the school and region indexes (a few hundred look-ups each): the
    # same for everyone, so taken with the counts, at most every few seconds.
    pick_lists = (
        counts_cache()
        .get(
            "contact pick-lists",
            lambda: {c: distinct_values(db.session, c) for c in ("school", "region")},
        )
        .value
    )
    form.school.choices = [SelectChoice("", "Any school")] + [
        SelectChoice(s, s) for s in pick_lists["school"]
    ]
    form.region.choices = [SelectChoice("", "Any region")] + [
        SelectChoice(r, r) for r in pick_lists["region"]
    ]
    form.validate()
    where = ContactFilter(
        search=form.q.data or "",
        role=ContactRole(form.role.data) if form.role.data and not form.role.errors else None,
        school=form.school.data or "",
        region=form.region.data or "",
        consent_email=ConsentStatus(form.consent_email.data)
        if form.consent_email.data and not form.consent_email.errors
        else None,
    )
    before_id = request.args.get("before", type=int)
    page = list_contacts(db.session, where, before_id=before_id, limit=PAGE_SIZE)
    filters = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "audiences/contacts.html", form=form, page=page, filters=filters, paged=before_id
    )


def _contact_or_404(contact_id: int) -> Contact:
    return db.session.get(Contact, contact_id) or abort(404)


class ConsentForm(FlaskForm):
    channel = SelectField(
        "Channel", choices=[SelectChoice(c.value, c.value.capitalize()) for c in ConsentChannel]
    )
    status = SelectField(
        "Status",
        choices=[SelectChoice(s.value, s.value) for s in ConsentStatus if s.value != "unknown"],
    )
    note = StringField(
        "How it was given",
        validators=[Optional(), Length(max=120)],
        description="For example: signed form at the career fair, phone call with the parent.",
    )


class EraseForm(FlaskForm):
    confirm = StringField(
        "Type the contact's email address to confirm", validators=[DataRequired()]
    )


def _contact_page(contact: Contact, consent_form: ConsentForm | None = None, status: int = 200):
    today = today_utc()
    return (
        render_template(
            "audiences/contact.html",
            contact=contact,
            band=age_band(contact.birth_date_latest, today),
            tags=tags_of(db.session, contact.id),
            history=consent_history(db.session, contact.id),
            suppression=suppression_for(db.session, contact) if contact.email else None,
            email_recipient=recipient_for(db.session, contact.id, "email", today=today),
            consent_form=consent_form or ConsentForm(),
            erase_form=EraseForm(),
            action=EmptyForm(),
            staff_liftable=STAFF_LIFTABLE,
        ),
        status,
    )


@bp.route("/contacts/<int:contact_id>")
@requires_role(*STAFF)
def contact(contact_id: int):
    return _contact_page(_contact_or_404(contact_id))


@bp.route("/contacts/<int:contact_id>/consent", methods=["POST"])
@requires_role(*EDITORS)
def record_contact_consent(contact_id: int):
    contact = _contact_or_404(contact_id)
    form = ConsentForm()
    if not form.validate_on_submit():
        return _contact_page(contact, form, 400)
    note = (form.note.data or "").strip()
    source = _staff_source() + (f" ({note})" if note else "")
    channel, status = ConsentChannel(form.channel.data), ConsentStatus(form.status.data)
    record_consent(db.session, contact, channel, status, source, ip=request.remote_addr)
    db.session.commit()
    flash(f"Recorded: {channel.value} consent {status.value}.", "success")
    return redirect(url_for("audiences.contact", contact_id=contact.id))


@bp.route("/contacts/<int:contact_id>/suppress", methods=["POST"])
@requires_role(*EDITORS)
def suppress_contact(contact_id: int):
    contact = _contact_or_404(contact_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        suppress(db.session, contact, SuppressionReason.MANUAL, _staff_source())
    except AudienceError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{contact.email} gets no more mail.", "success")
    return redirect(url_for("audiences.contact", contact_id=contact.id))


@bp.route("/contacts/<int:contact_id>/lift-suppression", methods=["POST"])
@requires_role(*EDITORS)
def lift_contact_suppression(contact_id: int):
    contact = _contact_or_404(contact_id)
    if not EmptyForm().validate_on_submit() or not contact.email:
        abort(400)
    if lift_suppression(db.session, contact, STAFF_LIFTABLE):
        db.session.commit()
        flash(f"{contact.email} is no longer suppressed.", "success")
    else:
        flash("Only manual suppressions and bounces can be lifted by staff.", "error")
    return redirect(url_for("audiences.contact", contact_id=contact.id))


@bp.route("/contacts/<int:contact_id>/privacy-export")
@requires_role(*EDITORS)
def privacy_export(contact_id: int):
    contact = _contact_or_404(contact_id)
    document = export_contact_data(db.session, contact)
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact.id}.json"'},
    )


@bp.route("/contacts/<int:contact_id>/erase", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def erase(contact_id: int):
    contact = _contact_or_404(contact_id)
    form = EraseForm()
    expected = (contact.email or "ERASE").lower()
    if not form.validate_on_submit() or form.confirm.data.strip().lower() != expected:
        flash(
            "Nothing was erased: type the contact's email address exactly"
            + ("" if contact.email else " (or ERASE for a contact without one)")
            + " to confirm.",
            "error",
        )
        return redirect(url_for("audiences.contact", contact_id=contact.id))
    erase_contact(db.session, contact, source=f"erased on request by {current_user.email}")
    db.session.commit()
    flash(f"Contact #{contact_id} is erased; their address stays suppressed as a hash.", "success")
    return redirect(url_for("audiences.contacts"))


def _csv_download(produce: Callable[[Session], Iterator[str]], filename: str) -> Response:
    """Stream CSV made by `produce` with a session of its own, open while the body is sent.

    The request's session closes when the view returns, before the body is sent, so
    `produce` loads what it needs by id in its own session.
    """
    database = db.database

    def body() -> Iterator[str]:
        with database.session() as session:
            yield from produce(session)

    return Response(
        body(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/contacts.csv")
@requires_role(*EDITORS)
def export_contacts():
    return _csv_download(export_contacts_csv, "contacts.csv")


# --- imports -------------------------------------------------------------------------------


class UploadForm(FlaskForm):
    file = FileField(
        "CSV file",
        validators=[FileRequired("Choose a CSV file.")],
        description="UTF-8, separated by commas or semicolons, with a header row.",
    )


class MappingForm(FlaskForm):
    update_existing = RadioField(
        "Contacts already in the database",
        choices=[
            SelectChoice("no", "Leave them as they are (insert new contacts only)"),
            SelectChoice("yes", "Update them with the file's values (empty cells change nothing)"),
        ],
        default="no",
    )


def uploads_dir() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _executor() -> ThreadPoolExecutor:
    executor = current_app.extensions.get("audiences.import_executor")
    if executor is None:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="contact-import")
        current_app.extensions["audiences.import_executor"] = executor
    return executor


def _run_in_background(session_factory: Callable[[], Session], job_id: int, uploads: Path) -> None:
    try:
        job = run_import(session_factory, job_id)
    except Exception:
        log.exception("import #%s could not run", job_id)
        return
    path = Path(job.path)
    if job.status is ImportStatus.DONE and path.parent == uploads:
        path.unlink(missing_ok=True)  # an uploaded copy holds personal data: keep it no longer


def start_import(job: ImportJob) -> None:
    _executor().submit(_run_in_background, db.database.sessionmaker, job.id, uploads_dir())


def _job_or_404(job_id: int) -> ImportJob:
    return db.session.get(ImportJob, job_id) or abort(404)


def _imports_page(form: UploadForm, status: int = 200):
    jobs = db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(50)).all()
    return render_template("audiences/imports.html", form=form, jobs=jobs), status


@bp.route("/imports")
@requires_role(*STAFF)
def imports():
    return _imports_page(UploadForm())


@bp.route("/imports", methods=["POST"])
@requires_role(*EDITORS)
def upload_import():
    form = UploadForm()
    if not form.validate_on_submit():
        return _imports_page(form, 400)
    upload = form.file.data
    path = uploads_dir() / f"{secrets.token_hex(16)}.csv"
    upload.save(path)
    try:
        job, _preview = create_import_job(
            db.session, path, upload.filename or "upload.csv", created_by_id=current_user.id
        )
    except ImportFileError as exc:
        path.unlink(missing_ok=True)
        form.file.errors = [str(exc)]
        return _imports_page(form, 400)
    db.session.commit()
    return redirect(url_for("audiences.map_import", job_id=job.id))


@bp.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
@requires_role(*EDITORS)
def map_import(job_id: int):
    job = _job_or_404(job_id)
    if job.status is not ImportStatus.DRAFT:
        return redirect(url_for("audiences.import_job", job_id=job.id))
    form = MappingForm()
    mapping = dict(job.mapping)
    error = None
    if form.validate_on_submit():
        mapping = {
            column: request.form.get(f"column-{index}", "")
            for index, column in enumerate(job.header)
            if column
        }
        try:
            queue_import(
                db.session, job, mapping, update_existing=form.update_existing.data == "yes"
            )
        except AudienceError as exc:
            error = str(exc)
        else:
            db.session.commit()
            start_import(job)
            return redirect(url_for("audiences.import_job", job_id=job.id))
    try:
        rows = inspect_csv(Path(job.path), job.delimiter).rows
    except (ImportFileError, OSError):
        rows = []
    return (
        render_template(
            "audiences/import_mapping.html",
            job=job,
            form=form,
            rows=rows,
            mapping=mapping,
            fields=FIELD_LABELS,
            error=error,
        ),
        400 if error or form.errors else 200,
    )


def _progress_json(job: ImportJob) -> dict[str, Any]:
    progress = progress_of(job)
    return {
        "status": "interrupted" if is_interrupted(job) else job.status.value,
        "rows_done": progress.rows_done,
        "imported": progress.imported,
        "updated": progress.updated,
        "rejected": progress.rejected,
        "percent": round(progress.fraction * 100, 1),
        "rate": round(progress.rate) if progress.rate else None,
        "seconds_left": round(progress.seconds_left) if progress.seconds_left is not None else None,
        "error": job.error,
    }


@bp.route("/imports/<int:job_id>")
@requires_role(*STAFF)
def import_job(job_id: int):
    job = _job_or_404(job_id)
    return render_template(
        "audiences/import_job.html",
        job=job,
        progress=_progress_json(job),
        resumable=job.status is ImportStatus.FAILED or is_interrupted(job),
        action=EmptyForm(),
    )


@bp.route("/imports/<int:job_id>/progress.json")
@requires_role(*STAFF)
def import_progress(job_id: int):
    return jsonify(_progress_json(_job_or_404(job_id)))


@bp.route("/imports/<int:job_id>/rejects.csv")
@requires_role(*EDITORS)
def import_rejects(job_id: int):
    job = _job_or_404(job_id)
    return _csv_download(
        lambda session: rejects_csv(session, session.get(ImportJob, job_id)),
        f"import-{job.id}-rejects.csv",
    )


@bp.route("/imports/<int:job_id>/resume", methods=["POST"])
@requires_role(*EDITORS)
def resume_import(job_id: int):
    job = _job_or_404(job_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        prepare_resume(db.session, job)
    except AudienceError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        start_import(job)
        flash(f"Import #{job.id} continues after row {job.rows_done}.", "success")
    return redirect(url_for("audiences.import_job", job_id=job.id))


# --- segments ------------------------------------------------------------------------------


class SegmentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    slug = StringField(
        "Slug",
        validators=[Optional(), Length(max=80)],
        description="A stable short name creatives use for their variants. "
        "Left empty, it is made from the name. It cannot change later.",
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    rules = TextAreaField(
        "Rules (JSON)",
        validators=[DataRequired()],
        description='The rule tree, for example {"type": "all", "rules": []}.',
    )


@bp.route("/segments")
@requires_role(*STAFF)
def segments():
    items = db.session.scalars(
        select(Segment).order_by(Segment.is_builtin.desc(), Segment.name)
    ).all()
    return render_template("audiences/segments.html", segments=items, action=EmptyForm())


def _segment_or_404(segment_id: int) -> Segment:
    return db.session.get(Segment, segment_id) or abort(404)


# What `_rules_from` returns when the text is not JSON: JSON's own `null` is a value the
# rule parser refuses with its message, so None cannot mean "not JSON".
NOT_JSON = object()


def _rules_from(form: SegmentForm) -> Any:
    try:
        return json.loads(form.rules.data or "")
    except ValueError as exc:
        form.rules.errors = [f"The rules are not valid JSON: {exc}"]
        return NOT_JSON


def _builder_page(form: SegmentForm, segment: Segment | None, status: int = 200):
    return (
        render_template(
            "audiences/segment_form.html",
            form=form,
            segment=segment,
            schema=builder_schema(db.session),
        ),
        status,
    )


def _show_segment_error(form: SegmentForm, exc: AudienceError) -> None:
    if isinstance(exc, SegmentRuleError):
        form.rules.errors = [str(p) for p in exc.problems]
    elif "slug" in str(exc):
        form.slug.errors = [str(exc)]
    else:
        form.name.errors = [str(exc)]


@bp.route("/segments/new", methods=["GET", "POST"])
@requires_role(*EDITORS)
def new_segment():
    form = SegmentForm()
    if request.method == "GET":
        form.rules.data = json.dumps({"type": "all", "rules": []})
    if form.validate_on_submit():
        rules = _rules_from(form)
        if rules is not NOT_JSON:
            try:
                segment = create_segment(
                    db.session,
                    form.name.data,
                    rules,
                    slug=form.slug.data,
                    description=form.description.data or "",
                )
            except AudienceError as exc:
                db.session.rollback()
                _show_segment_error(form, exc)
            else:
                db.session.commit()
                flash(f"Segment {segment.name} saved: {segment.cached_count} members.", "success")
                return redirect(url_for("audiences.segment", segment_id=segment.id))
    return _builder_page(form, None, 400 if form.errors else 200)


@bp.route("/segments/<int:segment_id>")
@requires_role(*STAFF)
def segment(segment_id: int):
    segment = _segment_or_404(segment_id)
    try:
        members = preview_members(db.session, segment.rules, slug=segment.slug)
        problem = None
    except SegmentRuleError as exc:
        members, problem = [], str(exc)
    return render_template(
        "audiences/segment.html",
        segment=segment,
        members=members,
        problem=problem,
        used_by=segments_referring_to(db.session, segment.slug),
        rules_json=json.dumps(segment.rules, indent=2),
        action=EmptyForm(),
    )


@bp.route("/segments/<int:segment_id>/edit", methods=["GET", "POST"])
@requires_role(*EDITORS)
def edit_segment(segment_id: int):
    segment = _segment_or_404(segment_id)
    if segment.is_builtin:
        flash(f"{segment.name} is built in and cannot be changed.", "info")
        return redirect(url_for("audiences.segment", segment_id=segment.id))
    form = SegmentForm(obj=segment if request.method == "GET" else None)
    if request.method == "GET":
        form.rules.data = json.dumps(segment.rules)
    form.slug.data = segment.slug
    if form.validate_on_submit():
        rules = _rules_from(form)
        if rules is not NOT_JSON:
            try:
                update_segment(
                    db.session,
                    segment,
                    name=form.name.data,
                    rules=rules,
                    description=form.description.data or "",
                )
            except AudienceError as exc:
                db.session.rollback()
                _show_segment_error(form, exc)
            else:
                db.session.commit()
                flash(f"Segment {segment.name} saved: {segment.cached_count} members.", "success")
                return redirect(url_for("audiences.segment", segment_id=segment.id))
    return _builder_page(form, segment, 400 if form.errors else 200)


@bp.route("/segments/preview", methods=["POST"])
@requires_role(*EDITORS)
def preview_segment():
    """The builder's live count and first members, for rules not saved yet (JSON in and out)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "rules" not in body:
        return jsonify(problems=[{"path": "", "message": 'send {"rules": {...}}'}]), 400
    slug = body.get("slug") if isinstance(body.get("slug"), str) else None
    try:
        rule = parse_rule(body["rules"])
    except SegmentRuleError as exc:
        return jsonify(problems=[{"path": p.path, "message": p.message} for p in exc.problems]), 422

    def count_and_preview() -> dict[str, Any]:
        members = preview_members(db.session, rule, slug=slug)
        return {
            "count": count_members(db.session, rule, slug=slug),
            "members": [
                {
                    "id": m.id,
                    "name": m.name,
                    "email": m.email or "",
                    "role": m.role.value,
                    "school": m.school,
                }
                for m in members
            ],
        }

    # Counting a segment reads every contact (a sequential scan at a million); the same
    # rules asked again within a few seconds (the builder re-asking, a colleague on the
    # same segment) get the count already taken, with the time it was taken, and a count
    # a little older is answered while a new one is taken in the background.
    key = ("segment preview", json.dumps(body["rules"], sort_keys=True), slug)
    counted = counts_cache().get(key, count_and_preview, refresh_in_background=True)
    members = [
        {**m, "url": url_for("audiences.contact", contact_id=m["id"])}
        for m in counted.value["members"]
    ]
    return jsonify(count=counted.value["count"], members=members, counted_at=counted.as_of)


@bp.route("/segments/<int:segment_id>/count", methods=["POST"])
@requires_role(*EDITORS)
def recount_segment(segment_id: int):
    segment = _segment_or_404(segment_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        count = count_segment(db.session, segment)
    except SegmentRuleError as exc:
        flash(f"{segment.name} cannot be counted: {exc}", "error")
    else:
        db.session.commit()
        flash(f"{segment.name}: {count} members now.", "success")
    if request.form.get("back") == "segment":
        return redirect(url_for("audiences.segment", segment_id=segment.id))
    return redirect(url_for("audiences.segments"))


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
@requires_role(*EDITORS)
def remove_segment(segment_id: int):
    segment = _segment_or_404(segment_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        delete_segment(db.session, segment)
    except AudienceError as exc:
        flash(str(exc), "error")
        return redirect(url_for("audiences.segment", segment_id=segment.id))
    db.session.commit()
    flash(f"Segment {segment.name} deleted.", "success")
    return redirect(url_for("audiences.segments"))


@bp.route("/segments/<int:segment_id>/contacts.csv")
@requires_role(*EDITORS)
def export_segment(segment_id: int):
    segment = _segment_or_404(segment_id)
    try:
        compile_condition(db.session, segment.rules, slug=segment.slug)
    except SegmentRuleError as exc:
        flash(f"{segment.name} cannot be exported: {exc}", "error")
        return redirect(url_for("audiences.segment", segment_id=segment.id))
    return _csv_download(
        lambda session: export_contacts_csv(session, session.get(Segment, segment_id)),
        f"{segment.slug}.csv",
    )


# --- suppressions --------------------------------------------------------------------------


class SuppressForm(FlaskForm):
    email = StringField("Email address", validators=[DataRequired(), Length(max=320)])
    note = StringField("Why", validators=[Optional(), Length(max=120)])


def _suppressions_page(form: SuppressForm, status: int = 200):
    query = select(Suppression).order_by(Suppression.id.desc()).limit(PAGE_SIZE + 1)
    search = request.args.get("q", "").strip()
    if search:
        query = query.where(Suppression.address_hash == email_hash(search))
    before_id = request.args.get("before", type=int)
    if before_id:
        query = query.where(Suppression.id < before_id)
    rows = db.session.scalars(query).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return (
        render_template(
            "audiences/suppressions.html",
            form=form,
            suppressions=rows,
            next_before=rows[-1].id if more else None,
            search=search,
            action=EmptyForm(),
            staff_liftable=STAFF_LIFTABLE,
        ),
        status,
    )


@bp.route("/suppressions")
@requires_role(*STAFF)
def suppressions():
    return _suppressions_page(SuppressForm())


@bp.route("/suppressions", methods=["POST"])
@requires_role(*EDITORS)
def add_suppression():
    form = SuppressForm()
    if form.validate_on_submit():
        note = (form.note.data or "").strip()
        try:
            entry = suppress(
                db.session,
                form.email.data,
                SuppressionReason.MANUAL,
                _staff_source() + (f" ({note})" if note else ""),
            )
        except AudienceError as exc:
            form.email.errors = [str(exc)]
        else:
            db.session.commit()
            flash(f"{entry.email} is suppressed ({entry.reason.value}).", "success")
            return redirect(url_for("audiences.suppressions"))
    return _suppressions_page(form, 400)


@bp.route("/suppressions/<int:suppression_id>/lift", methods=["POST"])
@requires_role(*EDITORS)
def lift(suppression_id: int):
    entry = db.session.get(Suppression, suppression_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if entry.email and lift_suppression(db.session, entry.email, STAFF_LIFTABLE):
        db.session.commit()
        flash(f"{entry.email} is no longer suppressed.", "success")
    else:
        flash(
            f"A suppression for {entry.reason.value} cannot be lifted by staff; only the "
            "contact can resubscribe (erasures never).",
            "error",
        )
    return redirect(url_for("audiences.suppressions"))
