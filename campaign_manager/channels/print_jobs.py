"""Print jobs: what the print_export adapter hands a vendor, and the job's life in the portal.

A job holds the print-ready PDF(s), the manifest as JSON and CSV and a zip of all of them,
each a blob in the file storage (core/storage.py), listed in `print_job_files` by position:
the portal addresses a file by job id and position, never by a name or path a client sends.

Status (one service, `change_status`, enforces the rules):

    ready -> downloaded -> accepted -> printed -> shipped (with a tracking number)
      \\----------\\-----------\\-> rejected (with a reason)

The first download by one of the vendor's users moves ready -> downloaded. Only the vendor's
own users and administrators change a job; a vendor user asking about another vendor's job
is told it does not exist (`PrintJobNotFound`, a 404 in the portal). Every change, and every
notice sent or not, is appended to the job's history, which is never edited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from campaign_manager.core.accounts import Role, User, Vendor
from campaign_manager.core.db import Base, StrEnumType, utcnow
from campaign_manager.core.webhooks import WebhookEventType, record_event


class PrintJobStatus(enum.StrEnum):
    READY = "ready"
    DOWNLOADED = "downloaded"
    ACCEPTED = "accepted"
    PRINTED = "printed"
    SHIPPED = "shipped"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# Where each status may go next; shipped and rejected are final.
NEXT_STATUSES: dict[PrintJobStatus, frozenset[PrintJobStatus]] = {
    PrintJobStatus.READY: frozenset({PrintJobStatus.DOWNLOADED, PrintJobStatus.REJECTED}),
    PrintJobStatus.DOWNLOADED: frozenset({PrintJobStatus.ACCEPTED, PrintJobStatus.REJECTED}),
    PrintJobStatus.ACCEPTED: frozenset({PrintJobStatus.PRINTED, PrintJobStatus.REJECTED}),
    PrintJobStatus.PRINTED: frozenset({PrintJobStatus.SHIPPED}),
    PrintJobStatus.SHIPPED: frozenset(),
    PrintJobStatus.REJECTED: frozenset(),
}

# Why a move is refused, in words a vendor understands (keyed by the wanted status).
_HOW_TO_REACH = {
    PrintJobStatus.DOWNLOADED: "A job counts as downloaded when its files are first downloaded.",
    PrintJobStatus.ACCEPTED: "Download the files first, then accept the job.",
    PrintJobStatus.PRINTED: "Accept the job before marking it printed.",
    PrintJobStatus.SHIPPED: "Mark the job printed before marking it shipped.",
    PrintJobStatus.REJECTED: "A job can be rejected until it is printed.",
}

MAX_REASON_LENGTH = 2000
MAX_TRACKING_LENGTH = 200
SYSTEM_ACTOR = "system"


class PrintFileKind(enum.StrEnum):
    PDF = "pdf"
    MANIFEST_JSON = "manifest_json"
    MANIFEST_CSV = "manifest_csv"
    ZIP = "zip"

    @property
    def label(self) -> str:
        return {
            PrintFileKind.PDF: "Print-ready PDF",
            PrintFileKind.MANIFEST_JSON: "Manifest (JSON)",
            PrintFileKind.MANIFEST_CSV: "Manifest (CSV)",
            PrintFileKind.ZIP: "Everything (zip)",
        }[self]


class PrintJobError(ValueError):
    """A refused change to a print job; the message says why and is safe to show."""


class PrintJobNotFound(LookupError):
    """No such job or file, or not one this user may see (the two are not told apart)."""


class PrintJob(Base):
    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The delivery's idempotency key: a retried send finds the job its first attempt made.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # The campaign step and channel account it came from. Plain integers: channels knows no
    # campaigns, and a job outlives an account deleted later.
    # The step that asked for it (by table name: channels never import campaigns).
    step_id: Mapped[int | None] = mapped_column(
        ForeignKey("steps.id", ondelete="SET NULL"), index=True
    )
    channel_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="SET NULL")
    )
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    creative_version_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[PrintJobStatus] = mapped_column(
        StrEnumType(PrintJobStatus, 16), default=PrintJobStatus.READY, index=True
    )
    # Copies of all variants together; per variant in `ship_to` and the manifest.
    quantity: Mapped[int]
    profile: Mapped[str] = mapped_column(String(64))
    paper_stock: Mapped[str] = mapped_column(String(200))
    finishing: Mapped[str] = mapped_column(String(300), default="")
    # One entry per variant: {"variant", "name", "quantity", "address"}.
    ship_to: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    due_date: Mapped[date]
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tracking_number: Mapped[str] = mapped_column(String(MAX_TRACKING_LENGTH), default="")
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    # When the vendor's "job ready" email went out; None until one did.
    notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    vendor: Mapped[Vendor] = relationship()
    files: Mapped[list[PrintJobFile]] = relationship(
        back_populates="job", order_by="PrintJobFile.position", cascade="all, delete-orphan"
    )
    history: Mapped[list[PrintJobEvent]] = relationship(
        back_populates="job", order_by="PrintJobEvent.id", cascade="all, delete-orphan"
    )

    @property
    def next_statuses(self) -> frozenset[PrintJobStatus]:
        return NEXT_STATUSES[self.status]

    @property
    def is_open(self) -> bool:
        return bool(self.next_statuses)


class PrintJobFile(Base):
    """One file of a job. `sha256` is both its checksum and its name in the file storage."""

    __tablename__ = "print_job_files"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("print_jobs.id", ondelete="CASCADE"))
    # 0, 1, 2 ... in the order the portal lists them; the download URL names this number.
    position: Mapped[int]
    kind: Mapped[PrintFileKind] = mapped_column(StrEnumType(PrintFileKind, 16))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    # PDFs only: page count, and the variants inside (one per page, in order).
    pages: Mapped[int | None]
    variant_keys: Mapped[list[str]] = mapped_column(JSON, default=list)

    job: Mapped[PrintJob] = relationship(back_populates="files")

    @property
    def download_name(self) -> str:
        """The name a download is saved under: the job number keeps vendors' folders tidy."""
        return f"print-job-{self.job_id}-{self.filename}"


class PrintJobEvent(Base):
    """One line of a job's history: a status change, or a note (from == to) such as a notice
    that could not be sent. Append-only: an attempt to edit one raises."""

    __tablename__ = "print_job_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("print_jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who, as shown: the user's email at the time, or "system" for the adapter.
    actor: Mapped[str] = mapped_column(String(320))
    from_status: Mapped[PrintJobStatus | None] = mapped_column(StrEnumType(PrintJobStatus, 16))
    to_status: Mapped[PrintJobStatus] = mapped_column(StrEnumType(PrintJobStatus, 16))
    note: Mapped[str] = mapped_column(Text, default="")

    job: Mapped[PrintJob] = relationship(back_populates="history")

    @property
    def is_transition(self) -> bool:
        return self.from_status != self.to_status


@event.listens_for(PrintJobEvent, "before_update")
def _history_is_append_only(_mapper: Any, _connection: Any, target: PrintJobEvent) -> None:
    raise PrintJobError(f"print job history entry {target.id} cannot be changed")


# --- reading, as a given user -------------------------------------------------------------


def _is_staff(user: User) -> bool:
    return user.role is not Role.VENDOR


def visible_jobs_query(user: User, *, status: PrintJobStatus | None = None) -> Select[Any]:
    """The jobs `user` may see, unordered: a vendor's own company's, or all for staff."""
    query = select(PrintJob)
    if not _is_staff(user):
        query = query.where(PrintJob.vendor_id == user.vendor_id)
    if status is not None:
        query = query.where(PrintJob.status == status)
    return query


@dataclass(frozen=True)
class PrintJobPage:
    jobs: list[PrintJob]
    # Where the next (older) page starts, None on the last page.
    next_before_id: int | None


def visible_jobs(
    session: Session,
    user: User,
    *,
    status: PrintJobStatus | None = None,
    before_id: int | None = None,
    limit: int | None = None,
) -> list[PrintJob]:
    """The jobs `user` may see, newest first (ids grow with creation); with `before_id`,
    only those older than that job; at most `limit`."""
    query = visible_jobs_query(user, status=status).order_by(PrintJob.id.desc())
    if before_id is not None:
        query = query.where(PrintJob.id < before_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def visible_jobs_page(
    session: Session,
    user: User,
    *,
    status: PrintJobStatus | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> PrintJobPage:
    """One page of `visible_jobs`, by keyset like the contacts list."""
    jobs = visible_jobs(session, user, status=status, before_id=before_id, limit=limit + 1)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return PrintJobPage(jobs, jobs[-1].id if more else None)


def visible_job(session: Session, user: User, job_id: int) -> PrintJob:
    """The job, if `user` may see it; PrintJobNotFound otherwise (missing or not theirs)."""
    job = session.get(PrintJob, job_id)
    if job is None or (not _is_staff(user) and job.vendor_id != user.vendor_id):
        raise PrintJobNotFound(f"no print job {job_id}")
    return job


def visible_file(session: Session, user: User, job_id: int, position: int) -> PrintJobFile:
    job = visible_job(session, user, job_id)
    for job_file in job.files:
        if job_file.position == position:
            return job_file
    raise PrintJobNotFound(f"print job {job_id} has no file {position}")


def find_job_by_key(session: Session, idempotency_key: str) -> PrintJob | None:
    return session.scalar(select(PrintJob).where(PrintJob.idempotency_key == idempotency_key))


# --- changing ----------------------------------------------------------------------------


def add_history(
    session: Session,
    job: PrintJob,
    *,
    note: str,
    user: User | None = None,
    to_status: PrintJobStatus | None = None,
    from_status: PrintJobStatus | None = None,
) -> PrintJobEvent:
    """Append one history line; without `to_status` it is a note about the current status."""
    entry = PrintJobEvent(
        job=job,
        user_id=user.id if user else None,
        actor=user.email if user else SYSTEM_ACTOR,
        from_status=from_status if to_status else job.status,
        to_status=to_status or job.status,
        note=note,
    )
    session.add(entry)
    return entry


def _check_may_change(job: PrintJob, user: User) -> None:
    if user.role is Role.ADMIN:
        return
    if user.role is Role.VENDOR:
        if user.vendor_id != job.vendor_id:
            raise PrintJobNotFound(f"no print job {job.id}")
        return
    raise PrintJobError(
        "Only the vendor's own users and administrators change a print job's status."
    )


def change_status(
    session: Session,
    job: PrintJob,
    to: PrintJobStatus,
    user: User,
    *,
    reason: str = "",
    tracking_number: str = "",
    note: str = "",
) -> PrintJobEvent:
    """Move `job` to `to`, if the rules allow it, and record who did it in the history.

    Rejecting needs a reason; shipping needs a tracking number. The caller commits.
    """
    _check_may_change(job, user)
    if to is job.status:
        raise PrintJobError(f"Print job {job.id} is already {to.value}.")
    if to not in NEXT_STATUSES[job.status]:
        if not NEXT_STATUSES[job.status]:
            raise PrintJobError(
                f"Print job {job.id} is {job.status.value}; its status can no longer change."
            )
        raise PrintJobError(
            f"Print job {job.id} is {job.status.value} and cannot become {to.value}. "
            + _HOW_TO_REACH[to]
        )
    reason = reason.strip()
    tracking_number = tracking_number.strip()
    if to is PrintJobStatus.REJECTED:
        if not reason:
            raise PrintJobError("Say why the job is rejected, so the marketer can fix it.")
        if len(reason) > MAX_REASON_LENGTH:
            raise PrintJobError(f"Keep the reason under {MAX_REASON_LENGTH} characters.")
        job.rejection_reason = reason
        note = note or reason
    if to is PrintJobStatus.SHIPPED:
        if not tracking_number:
            raise PrintJobError("Enter the shipment's tracking number.")
        if len(tracking_number) > MAX_TRACKING_LENGTH or "\n" in tracking_number:
            raise PrintJobError(
                f"A tracking number is one line of at most {MAX_TRACKING_LENGTH} characters."
            )
        job.tracking_number = tracking_number
        note = note or f"Tracking number {tracking_number}"
    entry = add_history(session, job, note=note, user=user, to_status=to, from_status=job.status)
    previous = job.status
    job.status = to
    session.flush()
    record_event(
        session,
        WebhookEventType.PRINT_JOB_STATUS_CHANGED,
        {
            "print_job_id": job.id,
            "title": job.title,
            "vendor_id": job.vendor_id,
            "step_id": job.step_id,
            "from_status": previous.value,
            "to_status": to.value,
            "user_id": user.id,
            "tracking_number": job.tracking_number,
            "rejection_reason": job.rejection_reason,
        },
    )
    return entry


def record_download(session: Session, job_file: PrintJobFile, user: User) -> bool:
    """The first download by one of the vendor's users moves a ready job to downloaded.

    Staff downloading to check a file do not count. Returns whether the status changed.
    """
    job = job_file.job
    if user.role is not Role.VENDOR or job.status is not PrintJobStatus.READY:
        return False
    change_status(
        session, job, PrintJobStatus.DOWNLOADED, user, note=f"Downloaded {job_file.filename}"
    )
    return True
