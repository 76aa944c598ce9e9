"""The print target, the print message (real PDFs read back) and the print_export adapter."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date

import pikepdf
import pypdf
import pytest
from sqlalchemy import func, select

from campaign_manager.channels.base import (
    AdapterConfig,
    ConnectionCheckFailed,
    Failed,
    RenderedMessage,
    Sent,
)
from campaign_manager.channels.print_export import (
    PORTAL_JOB_PATH,
    PreflightFailed,
    PrintExportAdapter,
    PrintExportError,
    build_print_message,
    check_print_message,
    store_print_job,
)
from campaign_manager.channels.print_jobs import PrintFileKind, PrintJob, PrintJobStatus
from campaign_manager.channels.print_target import PrintTarget, PrintTargetError
from campaign_manager.channels.sandbox import list_records
from campaign_manager.core.storage import storage_of
from creatives.assets import upload_asset
from tests.channels.print_samples import (
    ALL_KEYS,
    PORTAL,
    VENDOR_ADDRESS,
    make_print_piece,
    make_print_samples,
    print_adapter,
    print_target,
)
from tests.creatives.conftest import LIMITS, image_bytes


@pytest.fixture
def samples(db, users):
    return make_print_samples(db)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(db, job: PrintJob) -> dict[PrintFileKind, list[bytes]]:
    storage = storage_of(db)
    found: dict[PrintFileKind, list[bytes]] = {}
    for job_file in job.files:
        found.setdefault(job_file.kind, []).append(storage.get(job_file.sha256))
    return found


# --- the target -----------------------------------------------------------------------------


def test_a_minimal_target_takes_the_documented_defaults():
    target = PrintTarget.from_json(print_target(7))
    assert target.vendor_id == 7 and target.quantity == 250
    assert target.due_date == date(2031, 3, 14)
    assert target.variants is None  # every partner of the brand kit
    assert target.profile is None  # the piece's own
    assert target.ship_to == "school" and target.one_file is True
    assert target.crop_marks is None and target.cmyk is None and target.pdf_x is None
    assert PrintTarget.from_json(target.as_json()) == target


def test_a_bad_target_lists_every_problem_at_once():
    with pytest.raises(PrintTargetError) as caught:
        PrintTarget.from_json(
            {
                "vendor_id": "three",
                "quantity": 0,
                "quantitiy": 5,
                "due_date": "14/03/2031",
                "variants": ["a", "a"],
                "profile": "napkin",
                "pdf_x": "pdf/a",
                "crop_marks": "yes",
            }
        )
    problems = caught.value.problems
    message = str(caught.value)
    assert "unknown key(s) quantitiy" in message
    assert "vendor_id: expected a whole number, got 'three'" in message
    assert "quantity: must be between 1 and 1,000,000, got 0" in message
    assert "paper_stock is required" in message
    assert "due_date: expected a date like 2025-09-01, got '14/03/2031'" in message
    assert "variants: a variant is listed twice" in message
    assert "profile: unknown print profile 'napkin'" in message
    assert "pdf_x: expected one of pdf/x-1a, pdf/x-3, pdf/x-4" in message
    assert "crop_marks: expected true, false or null" in message
    assert len(problems) == 9
    with pytest.raises(PrintTargetError, match="must be a JSON object"):
        PrintTarget.from_json(["not", "an", "object"])


def test_overrides_must_name_printed_variants():
    with pytest.raises(PrintTargetError, match=r"quantities names variants that are not printed"):
        PrintTarget.from_json(
            print_target(1, variants=["lincoln-high"], quantities={"roosevelt-high": 10})
        )


def test_unknown_vendor_and_partner_are_refused_before_rendering(db, samples):
    with pytest.raises(PrintTargetError, match="there is no vendor 999"):
        build_print_message(db, samples.version_id, print_target(999))
    with pytest.raises(PrintTargetError, match=r"unknown co-brand partner.*nowhere-high"):
        build_print_message(
            db, samples.version_id, print_target(samples.vendor.id, variants=["nowhere-high"])
        )


def test_a_variant_without_any_address_is_refused(db, samples):
    samples.vendor.postal_address = ""
    db.commit()
    with pytest.raises(PrintTargetError, match="no ship-to address for jefferson-tech"):
        build_print_message(db, samples.version_id, print_target(samples.vendor.id))


# --- the message ----------------------------------------------------------------------------


def test_one_pdf_with_a_page_per_school_and_a_manifest_that_matches_it(db, samples):
    samples.vendor.wants_crop_marks = True
    db.commit()
    target = print_target(
        samples.vendor.id,
        quantities={"lincoln-high": 1000},
        ship_to_by_variant={"roosevelt-high": "Front office\nRoosevelt High\nReading, PA"},
        finishing="Trim, shrink-wrap in 100s",
    )
    message = build_print_message(db, samples.version_id, target, step_id=42)
    assert message.kind == "print" and message.to == "print@example.org"
    (pdf,) = message.files
    reader = pypdf.PdfReader(io.BytesIO(pdf.data))
    assert len(reader.pages) == 3
    manifest = message.manifest
    assert manifest["files"] == [
        {
            "filename": pdf.filename,
            "variant_keys": ALL_KEYS,
            "pages": 3,
            "size": len(pdf.data),
            "sha256": sha256(pdf.data),
        }
    ]
    assert [(v["key"], v["quantity"], v["page"]) for v in manifest["variants"]] == [
        ("jefferson-tech", 250, 1),
        ("lincoln-high", 1000, 2),
        ("roosevelt-high", 250, 3),
    ]
    addresses = {v["key"]: v["ship_to"] for v in manifest["variants"]}
    # The school's address when it has one, else the vendor's; an override wins.
    assert addresses == {
        "jefferson-tech": VENDOR_ADDRESS,
        "lincoln-high": "Lincoln High School\n500 Elm Street\nLancaster, PA 17602",
        "roosevelt-high": "Front office\nRoosevelt High\nReading, PA",
    }
    assert manifest["total_quantity"] == 1500 and manifest["step_id"] == 42
    assert manifest["profile"]["key"] == "postcard-4x6"  # the piece's own
    assert manifest["profile"]["color_mode"] == "cmyk"
    assert manifest["paper_stock"] == "14 pt coated cover"
    assert manifest["finishing"] == "Trim, shrink-wrap in 100s"
    assert manifest["due_date"] == "2031-03-14"
    # Crop marks because the vendor wants them: the page is wider than the bleed.
    assert manifest["crop_marks"] is True
    page = reader.pages[0]
    assert float(page.mediabox.width) > float(page.bleedbox.width)
    assert message.tags == {"step": "42"}
    assert check_print_message(message) == []


def test_one_pdf_per_school_on_request_with_the_asked_profile(db, samples):
    target = print_target(
        samples.vendor.id,
        variants=["roosevelt-high", "lincoln-high"],
        one_file=False,
        profile="postcard-5x7",
        crop_marks=False,
    )
    message = build_print_message(db, samples.version_id, target)
    assert [f.filename.rsplit("-", 2)[-2:] for f in message.files] == [
        ["roosevelt", "high.pdf"],
        ["lincoln", "high.pdf"],
    ]
    for item, entry, variant in zip(
        message.files, message.manifest["files"], message.manifest["variants"], strict=True
    ):
        with pikepdf.open(io.BytesIO(item.data)) as pdf:
            assert len(pdf.pages) == 1
            trim = [float(x) for x in pdf.pages[0].obj.TrimBox]
        assert trim == [0, 0, 7 * 72, 5 * 72]  # 5 x 7 postcard, landscape
        assert entry["sha256"] == sha256(item.data) and entry["size"] == len(item.data)
        assert entry["variant_keys"] == [variant["key"]]
        assert variant["file"] == item.filename and variant["page"] == 1


def test_preflight_errors_stop_the_message(db, samples):
    # 90 px across a 2.5 in wide picture: far below 150 ppi, a preflight error.
    tiny = upload_asset(db, image_bytes(90, 90, "JPEG"), limits=LIMITS, alt_text="Tiny").asset.id
    blurry = make_print_piece(db, name="Blurry postcard", hero_asset_id=tiny)
    with pytest.raises(PreflightFailed) as caught:
        build_print_message(db, blurry.current_version.id, print_target(samples.vendor.id))
    assert "Preflight found" in str(caught.value) and "not sent to the vendor" in str(caught.value)
    assert any("ppi" in problem.message for problem in caught.value.problems)
    assert isinstance(caught.value, PrintExportError)


# --- the adapter ----------------------------------------------------------------------------


def test_send_makes_exactly_one_job_per_idempotency_key(app, db, samples):
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    db.commit()
    adapter = print_adapter(app, samples.export_account.id)
    first = adapter.send(message, idempotency_key="cm-delivery-1")
    again = adapter.send(message, idempotency_key="cm-delivery-1")
    other = adapter.send(message, idempotency_key="cm-delivery-2")
    assert isinstance(first, Sent) and again == first and other != first
    assert db.scalar(select(func.count()).select_from(PrintJob)) == 2
    job = db.get(PrintJob, int(first.external_id))
    assert job.idempotency_key == "cm-delivery-1" and job.status is PrintJobStatus.READY
    assert job.channel_account_id == samples.export_account.id
    assert job.vendor_id == samples.vendor.id and job.quantity == 750
    # One notice per job, however often the delivery is retried.
    assert (
        len(list_records(app.extensions["settings"].instance_dir, samples.notice_account.id)) == 2
    )


def test_stored_files_manifest_csv_and_zip_agree_with_the_pdfs(app, db, samples):
    target = print_target(samples.vendor.id, quantities={"lincoln-high": 400})
    message = build_print_message(db, samples.version_id, target)
    db.commit()
    result = print_adapter(app, samples.export_account.id).send(message, idempotency_key="k")
    job = db.get(PrintJob, int(result.external_id))
    files = stored_files(db, job)
    assert [f.kind for f in job.files] == ["pdf", "manifest_json", "manifest_csv", "zip"]
    for job_file in job.files:
        data = storage_of(db).get(job_file.sha256)
        assert sha256(data) == job_file.sha256 and len(data) == job_file.size

    (pdf,) = files[PrintFileKind.PDF]
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 3
    manifest = json.loads(files[PrintFileKind.MANIFEST_JSON][0])
    assert manifest == job.manifest == dict(message.manifest)
    assert manifest["files"][0]["sha256"] == sha256(pdf)
    assert manifest["files"][0]["size"] == len(pdf)

    rows = list(
        csv.DictReader(io.StringIO(files[PrintFileKind.MANIFEST_CSV][0].decode("utf-8-sig")))
    )
    assert [(r["variant_key"], r["quantity"], r["page"]) for r in rows] == [
        ("jefferson-tech", "250", "1"),
        ("lincoln-high", "400", "2"),
        ("roosevelt-high", "250", "3"),
    ]
    assert {r["file_sha256"] for r in rows} == {sha256(pdf)}
    assert rows[1]["ship_to"] == "Lincoln High School\n500 Elm Street\nLancaster, PA 17602"
    assert {r["paper_stock"] for r in rows} == {"14 pt coated cover"}
    assert {r["due_date"] for r in rows} == {"2031-03-14"}

    with zipfile.ZipFile(io.BytesIO(files[PrintFileKind.ZIP][0])) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [job.files[0].filename, "manifest.json", "manifest.csv"]
        assert archive.read(names[0]) == pdf
        assert archive.read("manifest.json") == files[PrintFileKind.MANIFEST_JSON][0]
        assert archive.read("manifest.csv") == files[PrintFileKind.MANIFEST_CSV][0]
    assert job.history[0].note.startswith("Job created with 1 PDF(s)")


def test_manifest_csv_cells_cannot_run_as_spreadsheet_formulas(app, db, samples):
    # A vendor opens the manifest in a spreadsheet; the finishing note is a marketer's text.
    formula = '=HYPERLINK("https://evil.example","click")'
    target = print_target(samples.vendor.id, finishing=formula, paper_stock="+cmd")
    message = build_print_message(db, samples.version_id, target)
    db.commit()
    result = print_adapter(app, samples.export_account.id).send(message, idempotency_key="k")
    job = db.get(PrintJob, int(result.external_id))
    data = stored_files(db, job)[PrintFileKind.MANIFEST_CSV][0].decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert {(r["finishing"], r["paper_stock"]) for r in rows} == {("'" + formula, "'+cmd")}
    assert job.manifest["finishing"] == formula  # the JSON manifest keeps the text as written


def test_the_vendor_is_emailed_a_link_to_the_job(app, db, samples):
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    db.commit()
    result = print_adapter(app, samples.export_account.id).send(message, idempotency_key="k")
    job_id = int(result.external_id)
    (record,) = list_records(app.extensions["settings"].instance_dir, samples.notice_account.id)
    link = PORTAL + PORTAL_JOB_PATH.format(job_id=job_id)
    assert record.data["to"] == "print@example.org"
    assert record.data["from"] == "print-desk@example.org"
    assert (
        record.data["subject"] == f"Print job #{job_id} is ready: Print export postcard (version 1)"
    )
    assert link in record.data["text"] and f"href='{link}'" in record.data["html"]
    assert "Quantity: 750 copies in 3 versions" in record.data["text"]
    job = db.get(PrintJob, job_id)
    assert job.notified_at is not None
    assert job.history[-1].note == "Vendor notified by email at print@example.org"


def test_a_failed_notice_does_not_fail_the_job_and_shows_in_its_history(app, db, samples):
    samples.export_account.settings = {**samples.export_account.settings, "notify_account_id": 999}
    db.commit()
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    db.commit()
    result = print_adapter(app, samples.export_account.id).send(message, idempotency_key="k")
    assert isinstance(result, Sent)
    job = db.get(PrintJob, int(result.external_id))
    assert job.status is PrintJobStatus.READY and job.notified_at is None
    assert job.history[-1].note == (
        "The email notice to print@example.org was not sent: the notice email account 999 does "
        "not exist. The job is ready in the portal all the same."
    )


def test_a_job_left_without_its_notice_gets_it_on_the_retry(app, db, samples):
    """The worker stopped after the job was made and before the notice went out."""
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    job = store_print_job(db, message, idempotency_key="cm-delivery-9")
    db.commit()
    result = print_adapter(app, samples.export_account.id).send(
        message, idempotency_key="cm-delivery-9"
    )
    assert result == Sent(str(job.id))
    assert db.scalar(select(func.count()).select_from(PrintJob)) == 1
    db.expire_all()
    assert db.get(PrintJob, job.id).notified_at is not None


def test_messages_that_disagree_with_their_manifest_are_refused(app, db, samples):
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    db.commit()
    (pdf,) = message.files
    tampered = RenderedMessage(
        kind=message.kind,
        files=(type(pdf)(pdf.filename, pdf.content_type, pdf.data + b"\n%extra"),),
        manifest=message.manifest,
    )
    adapter = print_adapter(app, samples.export_account.id)
    assert [p.message for p in adapter.validate(tampered)] == [
        f"The checksum of {pdf.filename} does not match the file."
    ]
    result = adapter.send(tampered, idempotency_key="k")
    assert isinstance(result, Failed) and result.permanent
    no_manifest = RenderedMessage(kind=message.kind, files=message.files)
    assert "manifest" in adapter.validate(no_manifest)[0].field
    assert db.scalar(select(func.count()).select_from(PrintJob)) == 0


def test_without_the_database_the_adapter_fails_clearly(db, samples):
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    adapter = PrintExportAdapter(AdapterConfig(settings={}, credentials={}))
    result = adapter.send(message, idempotency_key="k")
    assert isinstance(result, Failed) and "needs the application database" in result.reason


def test_connection_check_names_a_notice_account_that_is_not_email(app, db, samples, make_account):
    print_adapter(app, samples.export_account.id).check_connection()
    social = make_account("sandbox_social", name="Social sandbox")
    samples.export_account.settings = {
        **samples.export_account.settings,
        "notify_account_id": social.id,
    }
    db.commit()
    with pytest.raises(ConnectionCheckFailed, match="is a social account, not email"):
        print_adapter(app, samples.export_account.id).check_connection()
