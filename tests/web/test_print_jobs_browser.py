"""A vendor in a real Chromium: finds the job, downloads the PDF, accepts the job."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from campaign_manager.channels.print_jobs import PrintJob, PrintJobStatus
from tests.channels.print_samples import make_print_job, make_print_samples
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def test_a_vendor_downloads_and_accepts_a_job(live_server, users, db, page, tmp_path: Path):
    job = make_print_job(db, make_print_samples(db), "browser-job", variants=["lincoln-high"])
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("vendor@example.org")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/print-jobs")

    page.get_by_role("link", name=f"#{job.id} {job.title}").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Print job #{job.id}")
    # Accepting needs the files first: no accept button yet.
    assert page.get_by_role("button", name="Accept the job").count() == 0

    pdf = job.files[0]
    with page.expect_download() as download_info:
        page.get_by_role("link", name=pdf.filename).click()
    download = download_info.value
    assert download.suggested_filename == f"print-job-{job.id}-{pdf.filename}"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == pdf.sha256

    page.reload()
    page.get_by_role("button", name="Accept the job").click()
    assert (
        page.get_by_role("status").inner_text().strip() == f"Print job #{job.id} is now accepted."
    )
    assert page.locator(".print-status-accepted").first.inner_text() == "Accepted"
    db.expire_all()
    assert db.get(PrintJob, job.id).status is PrintJobStatus.ACCEPTED
