"""Print export: the print message of a print step, and the `print_export` adapter.

How a print step becomes a job in the vendor portal:

1. The step's `target` JSON is parsed into a `PrintTarget` (print_target.py documents the
   JSON; `PrintTargetError` lists what is wrong with one).
2. The engine's renderer calls `build_print_message(session, version_id, target,
   step_id=...)`: it runs preflight (an error stops here with `PreflightFailed`), renders the
   PDF(s) with `creatives.printing.render_print_pdf` and builds the manifest. Every refusal
   is a `PrintExportError`, which the engine records as a permanent failure.
3. The `print_export` adapter's `send` stores the PDFs, the manifest as JSON and CSV and a
   zip of all of them, and creates one `PrintJob` per idempotency key (a unique column, so a
   retry never makes a second job); the external id is the job's id. It then emails the
   vendor through the email channel account its settings name; a notice that fails is
   written in the job's history and does not fail the job.

The manifest (`PrintManifest.as_dict`, stored as manifest.json, and one CSV row per
variant in manifest.csv) lists the vendor, the profile, paper, finishing, due date, each
variant's quantity and ship-to address with its file and page, and each file's size and
SHA-256 checksum.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from markupsafe import escape
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import build_adapter
from campaign_manager.channels.base import (
    AdapterConfig,
    ChannelAdapter,
    ChannelKind,
    ConnectionCheckFailed,
    Failed,
    MediaItem,
    Problem,
    RenderedMessage,
    RetryLater,
    SendResult,
    Sent,
    SettingField,
)
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.channels.print_jobs import (
    PrintFileKind,
    PrintJob,
    PrintJobFile,
    PrintJobStatus,
    add_history,
    find_job_by_key,
)
from campaign_manager.channels.print_target import (
    PrintExportError,
    PrintTarget,
    ResolvedPrintTarget,
    resolve_print_target,
)
from campaign_manager.channels.registry import AdapterNotAvailable, adapter_class
from campaign_manager.core.accounts import Vendor
from campaign_manager.core.db import utcnow
from campaign_manager.core.security import spreadsheet_cell
from campaign_manager.core.storage import sha256_of, storage_of
from creatives.errors import CreativeError, Severity
from creatives.printing import (
    PreflightProblem,
    PrintFile,
    preflight,
    render_print_pdf,
)

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "campaign-manager/print-manifest"
MANIFEST_VERSION = 1
MANIFEST_JSON_NAME = "manifest.json"
MANIFEST_CSV_NAME = "manifest.csv"
# Where a job's page lives in the web app (campaign_manager/web/print_jobs.py); channels
# cannot ask Flask for it, and a test checks the two agree.
PORTAL_JOB_PATH = "/print-jobs/{job_id}"
NOTICE_RETRY_NOTE = "The job is ready in the portal all the same."


class PreflightFailed(PrintExportError):
    """Preflight found errors: the piece would print badly, so nothing goes to the vendor."""

    def __init__(self, problems: list[PreflightProblem]) -> None:
        self.problems = problems
        details = "; ".join(
            f"{p.area}: {p.message}" + (f" (page {p.page})" if p.page else "") for p in problems
        )
        super().__init__(
            f"Preflight found {len(problems)} error(s), so the job was not sent to the "
            f"vendor: {details}"
        )


# --- the manifest -------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestProfile:
    key: str
    label: str
    trim_width_in: float
    trim_height_in: float
    bleed_in: float
    color_mode: str


@dataclass(frozen=True)
class ManifestVariant:
    key: str
    name: str
    quantity: int
    ship_to: str
    file: str
    page: int


@dataclass(frozen=True)
class ManifestFile:
    filename: str
    variant_keys: tuple[str, ...]
    pages: int
    size: int
    sha256: str


@dataclass(frozen=True)
class PrintManifest:
    """What a vendor needs besides the PDFs; `as_dict` is the JSON a message carries."""

    title: str
    creative_id: int
    creative_version_id: int
    step_id: int | None
    vendor_id: int
    vendor_name: str
    profile: ManifestProfile
    paper_stock: str
    finishing: str
    due_date: date
    crop_marks: bool
    cmyk: bool
    pdf_x: str | None
    total_quantity: int
    variants: tuple[ManifestVariant, ...]
    files: tuple[ManifestFile, ...]
    rendered_at: datetime

    def as_dict(self) -> dict[str, Any]:
        data = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **asdict(self)}
        data["due_date"] = self.due_date.isoformat()
        data["rendered_at"] = self.rendered_at.isoformat()
        data["variants"] = [asdict(v) for v in self.variants]
        data["files"] = [{**asdict(f), "variant_keys": list(f.variant_keys)} for f in self.files]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrintManifest:
        """Read a manifest back; ValueError says what is wrong with one that is malformed."""
        try:
            if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
                raise ValueError(f"not a {MANIFEST_FORMAT} version {MANIFEST_VERSION} manifest")
            return cls(
                title=str(data["title"]),
                creative_id=int(data["creative_id"]),
                creative_version_id=int(data["creative_version_id"]),
                step_id=None if data.get("step_id") is None else int(data["step_id"]),
                vendor_id=int(data["vendor_id"]),
                vendor_name=str(data["vendor_name"]),
                profile=ManifestProfile(**data["profile"]),
                paper_stock=str(data["paper_stock"]),
                finishing=str(data["finishing"]),
                due_date=date.fromisoformat(data["due_date"]),
                crop_marks=bool(data["crop_marks"]),
                cmyk=bool(data["cmyk"]),
                pdf_x=data.get("pdf_x"),
                total_quantity=int(data["total_quantity"]),
                variants=tuple(ManifestVariant(**v) for v in data["variants"]),
                files=tuple(
                    ManifestFile(**{**f, "variant_keys": tuple(f["variant_keys"])})
                    for f in data["files"]
                ),
                rendered_at=datetime.fromisoformat(data["rendered_at"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"the manifest is incomplete or malformed ({exc!r})") from None

    def json_bytes(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "variant_key",
        "variant_name",
        "quantity",
        "ship_to",
        "file",
        "page",
        "file_sha256",
        "profile",
        "paper_stock",
        "finishing",
        "due_date",
    )

    def csv_bytes(self) -> bytes:
        """One row per variant; a multi-line address stays one quoted field."""
        checksums = {f.filename: f.sha256 for f in self.files}
        output = io.StringIO()
        writer = csv.writer(output, lineterminator="\r\n")
        writer.writerow(self.CSV_COLUMNS)
        for variant in self.variants:
            # The vendor opens this in a spreadsheet: names and addresses are the
            # marketers' free text, so formula characters are defused.
            writer.writerow(
                (
                    spreadsheet_cell(variant.key),
                    spreadsheet_cell(variant.name),
                    variant.quantity,
                    spreadsheet_cell(variant.ship_to),
                    spreadsheet_cell(variant.file),
                    variant.page,
                    checksums[variant.file],
                    self.profile.key,
                    spreadsheet_cell(self.paper_stock),
                    spreadsheet_cell(self.finishing),
                    self.due_date.isoformat(),
                )
            )
        # UTF-8 with a byte-order mark, so spreadsheet programs read accents right.
        return output.getvalue().encode("utf-8-sig")

    @property
    def zip_name(self) -> str:
        return self.files[0].filename.removesuffix(".pdf") + ".zip"


def print_manifest(
    resolved: ResolvedPrintTarget, files: list[PrintFile], *, step_id: int | None
) -> PrintManifest:
    target, profile = resolved.target, resolved.profile
    variants = []
    for index, variant in enumerate(resolved.variants):
        if target.one_file:
            file, page = files[0], index + 1
        else:
            file, page = next(f for f in files if f.variant_key == variant.key), 1
        variants.append(
            ManifestVariant(
                variant.key, variant.name, variant.quantity, variant.ship_to, file.filename, page
            )
        )
    manifest_files = []
    for file in files:
        keys = tuple(resolved.variant_keys) if file.variant_key is None else (file.variant_key,)
        manifest_files.append(
            ManifestFile(file.filename, keys, file.pages, len(file.data), file.sha256)
        )
    version = resolved.version
    return PrintManifest(
        title=f"{version.creative.name} (version {version.number})",
        creative_id=version.creative_id,
        creative_version_id=version.id,
        step_id=step_id,
        vendor_id=resolved.vendor.id,
        vendor_name=resolved.vendor.name,
        profile=ManifestProfile(
            profile.key,
            profile.label,
            round(profile.width, 4),
            round(profile.height, 4),
            round(profile.bleed, 4),
            "cmyk" if resolved.cmyk else "rgb",
        ),
        paper_stock=target.paper_stock,
        finishing=target.finishing,
        due_date=target.due_date,
        crop_marks=resolved.crop_marks,
        cmyk=resolved.cmyk,
        pdf_x=target.pdf_x,
        total_quantity=sum(v.quantity for v in resolved.variants),
        variants=tuple(variants),
        files=tuple(manifest_files),
        rendered_at=utcnow().replace(microsecond=0),
    )


# --- the message --------------------------------------------------------------------------


def build_print_message(
    session: Session,
    version_id: int,
    target: PrintTarget | Mapping[str, Any],
    *,
    step_id: int | None = None,
) -> RenderedMessage:
    """The print message for one print step: preflighted PDFs plus their manifest.

    Raises PrintExportError (PrintTargetError, PreflightFailed) when the step cannot be
    sent as it stands: a bad target, or preflight errors (warnings do not stop it).
    """
    resolved = resolve_print_target(session, version_id, target)
    target = resolved.target
    options = {
        "profile": resolved.profile,
        "variant_keys": resolved.variant_keys,
        "cmyk": resolved.cmyk,
        "pdf_variant": target.pdf_x,
    }
    try:
        problems = preflight(session, version_id, **options)
        errors = [p for p in problems if p.severity is Severity.ERROR]
        if errors:
            raise PreflightFailed(errors)
        files = render_print_pdf(
            session,
            version_id,
            crop_marks=resolved.crop_marks,
            one_file=target.one_file,
            **options,
        )
    except CreativeError as exc:
        raise PrintExportError(str(exc)) from None
    manifest = print_manifest(resolved, files, step_id=step_id)
    return RenderedMessage(
        kind=ChannelKind.PRINT,
        to=resolved.vendor.contact_email,
        to_name=resolved.vendor.name,
        title=manifest.title,
        files=tuple(MediaItem(f.filename, "application/pdf", f.data) for f in files),
        manifest=manifest.as_dict(),
        tags={"step": str(step_id)} if step_id is not None else {},
    )


def check_print_message(message: RenderedMessage) -> list[Problem]:
    """What makes a print message unusable: no PDFs, or files and manifest that disagree."""
    if message.kind is not ChannelKind.PRINT:
        return [Problem("kind", f"A print export takes print messages, not {message.kind}.")]
    if not message.files:
        return [Problem("files", "The print message has no PDF.")]
    try:
        manifest = PrintManifest.from_dict(message.manifest)
    except ValueError as exc:
        return [Problem("manifest", str(exc))]
    problems = []
    by_name = {item.filename: item for item in message.files}
    for item in message.files:
        if not item.data.startswith(b"%PDF-"):
            problems.append(Problem("files", f"{item.filename} is not a PDF."))
    listed = {f.filename for f in manifest.files}
    if listed != set(by_name):
        problems.append(
            Problem("manifest", "The manifest lists other files than the message carries.")
        )
    for entry in manifest.files:
        item = by_name.get(entry.filename)
        if item is not None and (
            sha256_of(item.data) != entry.sha256 or len(item.data) != entry.size
        ):
            problems.append(
                Problem("manifest", f"The checksum of {entry.filename} does not match the file.")
            )
    return problems


# --- storing a job ------------------------------------------------------------------------


def print_job_zip(manifest: PrintManifest, pdfs: Mapping[str, bytes]) -> bytes:
    """The PDFs, manifest.json and manifest.csv in one zip.

    Entries are dated when the PDFs were rendered, so the same message zips to the same
    bytes. PDFs are stored (they are compressed already); the manifests are deflated.
    """
    stamp = manifest.rendered_at.timetuple()[:6]
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, data in pdfs.items():
            archive.writestr(zipfile.ZipInfo(name, stamp), data, zipfile.ZIP_STORED)
        for name, data in (
            (MANIFEST_JSON_NAME, manifest.json_bytes()),
            (MANIFEST_CSV_NAME, manifest.csv_bytes()),
        ):
            archive.writestr(zipfile.ZipInfo(name, stamp), data, zipfile.ZIP_DEFLATED)
    return output.getvalue()


def store_print_job(
    session: Session,
    message: RenderedMessage,
    *,
    idempotency_key: str,
    channel_account_id: int | None = None,
) -> PrintJob:
    """Store the files and create the job (status ready). The caller commits.

    Callers look for an existing job with the key first (`find_job_by_key`); the unique
    column catches two racing callers.
    """
    problems = check_print_message(message)
    if problems:
        raise PrintExportError("; ".join(f"{p.field}: {p.message}" for p in problems))
    manifest = PrintManifest.from_dict(message.manifest)
    vendor = session.get(Vendor, manifest.vendor_id)
    if vendor is None:
        raise PrintExportError(f"There is no vendor {manifest.vendor_id} any more.")
    storage = storage_of(session)
    pdfs = {item.filename: item.data for item in message.files}
    contents = [
        (PrintFileKind.PDF, entry.filename, "application/pdf", pdfs[entry.filename], entry)
        for entry in manifest.files
    ]
    contents += [
        (PrintFileKind.MANIFEST_JSON, MANIFEST_JSON_NAME, "application/json",
         manifest.json_bytes(), None),
        (PrintFileKind.MANIFEST_CSV, MANIFEST_CSV_NAME, "text/csv; charset=utf-8",
         manifest.csv_bytes(), None),
        (PrintFileKind.ZIP, manifest.zip_name, "application/zip",
         print_job_zip(manifest, pdfs), None),
    ]  # fmt: skip
    job = PrintJob(
        idempotency_key=idempotency_key,
        step_id=manifest.step_id,
        channel_account_id=channel_account_id,
        vendor=vendor,
        title=manifest.title,
        creative_version_id=manifest.creative_version_id,
        status=PrintJobStatus.READY,
        quantity=manifest.total_quantity,
        profile=manifest.profile.key,
        paper_stock=manifest.paper_stock,
        finishing=manifest.finishing,
        ship_to=[
            {"variant": v.key, "name": v.name, "quantity": v.quantity, "address": v.ship_to}
            for v in manifest.variants
        ],
        due_date=manifest.due_date,
        manifest=manifest.as_dict(),
    )
    for position, (kind, filename, content_type, data, entry) in enumerate(contents):
        job.files.append(
            PrintJobFile(
                position=position,
                kind=kind,
                filename=filename,
                content_type=content_type,
                size=len(data),
                sha256=storage.put(data),
                pages=entry.pages if entry else None,
                variant_keys=list(entry.variant_keys) if entry else [],
            )
        )
    session.add(job)
    add_history(
        session,
        job,
        note=f"Job created with {len(manifest.files)} PDF(s), "
        f"{manifest.total_quantity:,} copies in {len(manifest.variants)} variant(s)"
        + (f", from campaign step {manifest.step_id}" if manifest.step_id else ""),
        to_status=job.status,
    )
    session.flush()
    return job


# --- the vendor's notice ------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeSettings:
    """From a print_export account's settings: where notices come from and link to."""

    portal_base_url: str
    account_id: int | None
    from_address: str
    from_name: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> NoticeSettings:
        raw_id = settings.get("notify_account_id")
        return cls(
            portal_base_url=str(settings.get("portal_base_url") or "").rstrip("/"),
            account_id=int(raw_id) if raw_id not in (None, "") else None,
            from_address=str(settings.get("notify_from_address") or ""),
            from_name=str(settings.get("notify_from_name") or ""),
        )

    def job_url(self, job_id: int) -> str:
        return self.portal_base_url + PORTAL_JOB_PATH.format(job_id=job_id)


def ready_notice(job: PrintJob, settings: NoticeSettings) -> RenderedMessage:
    """The "a print job is ready" email to the vendor, with a link to the job."""
    link = settings.job_url(job.id)
    variants = len(job.ship_to)
    facts = [
        ("Job", f"#{job.id} {job.title}"),
        ("Quantity", f"{job.quantity:,} copies in {variants} version{'s' * (variants != 1)}"),
        ("Paper", job.paper_stock),
        ("Finishing", job.finishing or "none"),
        ("Due", job.due_date.strftime("%A %d %B %Y")),
    ]
    text = (
        f"Hello {job.vendor.name},\n\n"
        "A new print job is ready for you.\n\n"
        + "".join(f"{label}: {value}\n" for label, value in facts)
        + f"\nDownload the files and accept or reject the job here:\n{link}\n"
    )
    rows = "".join(
        f"<tr><th scope='row' align='left'>{escape(label)}</th><td>{escape(value)}</td></tr>"
        for label, value in facts
    )
    html = (
        f"<p>Hello {escape(job.vendor.name)},</p><p>A new print job is ready for you.</p>"
        f"<table>{rows}</table>"
        f"<p><a href='{escape(link)}'>Open print job #{job.id}</a> to download the files "
        "and accept or reject it.</p>"
    )
    return RenderedMessage(
        kind=ChannelKind.EMAIL,
        to=job.vendor.contact_email,
        to_name=job.vendor.name,
        from_address=settings.from_address,
        from_name=settings.from_name,
        subject=f"Print job #{job.id} is ready: {job.title}",
        text=text,
        html=html,
        link=link,
        tags={"print_job": str(job.id)},
    )


def notice_key(job_id: int) -> str:
    """The notice's idempotency key: an idempotent email adapter sends it once."""
    return f"print-job-{job_id}-ready"


def notice_adapter(
    session: Session, settings: NoticeSettings, instance_path: Any
) -> ChannelAdapter:
    """The email adapter that sends notices; PrintExportError if the settings name none."""
    if settings.account_id is None:
        raise PrintExportError("the print-export account names no email account for notices")
    account = session.get(ChannelAccount, settings.account_id)
    if account is None:
        raise PrintExportError(f"the notice email account {settings.account_id} does not exist")
    try:
        kind = adapter_class(account.adapter).kind
    except AdapterNotAvailable as exc:
        raise PrintExportError(str(exc)) from None
    if kind is not ChannelKind.EMAIL:
        raise PrintExportError(
            f"the notice account {account.display_name} is a {kind} account, not email"
        )
    if not account.is_usable:
        raise PrintExportError(
            f"the notice account {account.display_name} is {account.status.value}"
        )
    if not settings.from_address:
        raise PrintExportError("the print-export account has no sender address for notices")
    return build_adapter(account, instance_path=instance_path)


def record_notice(session: Session, job: PrintJob, result: SendResult | str) -> None:
    """Write the notice's outcome in the job's history; `result` may be a reason it was
    not even tried."""
    if isinstance(result, Sent):
        job.notified_at = utcnow()
        add_history(session, job, note=f"Vendor notified by email at {job.vendor.contact_email}")
        return
    reason = result if isinstance(result, str) else result.reason
    add_history(
        session,
        job,
        note=f"The email notice to {job.vendor.contact_email} was not sent: {reason}. "
        + NOTICE_RETRY_NOTE,
    )
    log.warning("print job %s: notice not sent: %s", job.id, reason)


# --- the adapter --------------------------------------------------------------------------


class PrintExportAdapter:
    """Creates print jobs in the vendor portal and emails the vendor that one is ready."""

    name: ClassVar[str] = "print_export"
    kind: ClassVar[ChannelKind] = ChannelKind.PRINT
    display_name: ClassVar[str] = "Print export (vendor portal)"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "portal_base_url",
            "Address of this app",
            default="http://127.0.0.1:5000",
            help="Notices link to <address>/print-jobs/<job number>.",
        ),
        SettingField(
            "notify_account_id",
            "Email account for notices (its number)",
            required=False,
            input_type="number",
            help="The email channel account that tells the vendor a job is ready. "
            "Empty: no email; vendors see new jobs when they sign in.",
        ),
        SettingField(
            "notify_from_address",
            "Notices come from",
            required=False,
            help="The sender address of the notices, e.g. print-jobs@example.org.",
        ),
        SettingField("notify_from_name", "Sender name", required=False, default="Print jobs"),
    )
    # One job per idempotency key (a unique column): a retry never makes a second job.
    idempotent: ClassVar[bool] = True

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.notice = NoticeSettings.from_settings(config.settings)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        if self.config.session_factory is None:
            raise ConnectionCheckFailed(
                "the print export needs the application database (build it with "
                "channels.accounts.build_adapter)"
            )
        session = self.config.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def validate(self, message: RenderedMessage) -> list[Problem]:
        return check_print_message(message)

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        problems = self.validate(message)
        if problems:
            return Failed("; ".join(f"{p.field}: {p.message}" for p in problems))
        try:
            job_id, notified = self._create_job(message, idempotency_key)
        except PrintExportError as exc:
            return Failed(str(exc))
        except ConnectionCheckFailed as exc:
            return Failed(str(exc))
        except (OSError, SQLAlchemyError) as exc:
            log.warning("print export: cannot create the job: %s", exc)
            return RetryLater(60, f"cannot store the print job yet: {type(exc).__name__}")
        if not notified:
            self._notify(job_id)
        return Sent(str(job_id))

    def _create_job(self, message: RenderedMessage, idempotency_key: str) -> tuple[int, bool]:
        try:
            with self._transaction() as session:
                job = find_job_by_key(session, idempotency_key)
                if job is None:
                    job = store_print_job(
                        session,
                        message,
                        idempotency_key=idempotency_key,
                        channel_account_id=self.config.account_id,
                    )
                # A job made by an earlier attempt whose notice never went out (the worker
                # stopped in between) gets its notice now.
                return job.id, job.notified_at is not None
        except IntegrityError:
            # Another worker created the job for this key between our look and our insert.
            with self._transaction() as session:
                job = find_job_by_key(session, idempotency_key)
                if job is None:
                    raise
                return job.id, True

    def _notify(self, job_id: int) -> None:
        """Email the vendor; whatever happens is written in the job's history."""
        adapter: ChannelAdapter | None = None
        outcome: SendResult | str = ""
        with self._transaction() as session:
            notice = ready_notice(session.get(PrintJob, job_id), self.notice)
            try:
                adapter = notice_adapter(session, self.notice, self.config.instance_path)
            except PrintExportError as exc:
                outcome = str(exc)
            except Exception as exc:  # a broken account (unreadable credentials) must not
                # cost the job its history line
                outcome = f"the notice account could not be used ({type(exc).__name__})"
        if adapter is not None:
            try:
                outcome = adapter.send(notice, idempotency_key=notice_key(job_id))
            except Exception as exc:  # an adapter bug must not undo a job already made
                log.exception("print job %s: notice adapter raised", job_id)
                outcome = f"the email adapter failed ({type(exc).__name__})"
            finally:
                adapter.close()
        with self._transaction() as session:
            job = session.get(PrintJob, job_id)
            record_notice(session, job, outcome)

    def check_connection(self) -> None:
        if not self.notice.portal_base_url.startswith(("https://", "http://")):
            raise ConnectionCheckFailed("The address of this app must start with https://.")
        with self._transaction() as session:
            session.execute(text("SELECT 1"))
            if self.notice.account_id is not None:
                try:
                    notice_adapter(session, self.notice, self.config.instance_path).close()
                except PrintExportError as exc:
                    raise ConnectionCheckFailed(f"Notices cannot be sent: {exc}.") from None

    def close(self) -> None:
        pass


def jobs_of_step(session: Session, step_id: int) -> list[PrintJob]:
    """The jobs a print step made (for the campaign's pages)."""
    return list(session.scalars(select(PrintJob).where(PrintJob.step_id == step_id)))
