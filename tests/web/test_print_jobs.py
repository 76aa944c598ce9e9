"""The vendor portal: isolation between vendors, streamed downloads, actions, staff views."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from urllib.parse import urlsplit

import pypdf
import pytest

from campaign_manager.channels.print_export import PORTAL_JOB_PATH, build_print_message
from campaign_manager.channels.print_jobs import PrintJob, PrintJobStatus
from campaign_manager.channels.sandbox import list_records
from tests.channels.print_samples import (
    make_print_job,
    make_print_samples,
    print_adapter,
    print_target,
)

FILE_POSITIONS = {"pdf": 0, "manifest_json": 1, "manifest_csv": 2, "zip": 3}


@pytest.fixture
def samples(db, users):
    return make_print_samples(db)


@pytest.fixture
def jobs(db, samples):
    """One job for the `users` fixture's vendor (A) and one for the second vendor (B)."""
    mine = make_print_job(db, samples, "job-a", variants=["lincoln-high"])
    theirs = make_print_job(db, samples, "job-b", vendor=samples.other_vendor)
    return mine, theirs


def test_a_vendor_lists_only_its_own_jobs(client, jobs):
    mine, theirs = jobs
    client.login("vendor@example.org")
    page = client.get("/print-jobs").get_data(as_text=True)
    assert f"/print-jobs/{mine.id}" in page
    assert f"/print-jobs/{theirs.id}" not in page and "Second Print Co" not in page
    assert "Print-ready files for Test Print Co" in page
    client.post_form("/logout")
    client.login("vendor-b@example.org")
    page = client.get("/print-jobs").get_data(as_text=True)
    assert f"/print-jobs/{theirs.id}" in page and f"/print-jobs/{mine.id}" not in page


def test_the_job_list_pages_newest_first_and_each_page_only_the_vendors_own(
    client, db, samples, monkeypatch
):
    monkeypatch.setattr("campaign_manager.web.print_jobs.PAGE_SIZE", 2)
    ours = [make_print_job(db, samples, f"page-{n}") for n in range(3)]
    theirs = make_print_job(db, samples, "page-theirs", vendor=samples.other_vendor)
    client.login("vendor@example.org")

    def listed(page: str) -> list[int]:
        return [j.id for j in (*ours, theirs) if f'href="/print-jobs/{j.id}"' in page]

    first = client.get("/print-jobs").get_data(as_text=True)
    assert listed(first) == [ours[1].id, ours[2].id] and first.index(
        f"/print-jobs/{ours[2].id}"
    ) < first.index(f"/print-jobs/{ours[1].id}")
    older = f"/print-jobs?before={ours[1].id}"
    assert f'href="{older}"' in first
    second = client.get(older).get_data(as_text=True)
    assert listed(second) == [ours[0].id] and "Older jobs" not in second
    assert 'href="/print-jobs">Newest' in second


def test_another_vendors_job_and_every_one_of_its_files_are_404(client, jobs):
    _, theirs = jobs
    client.login("vendor@example.org")
    assert client.get(f"/print-jobs/{theirs.id}").status_code == 404
    for position in FILE_POSITIONS.values():
        assert client.get(f"/print-jobs/{theirs.id}/files/{position}").status_code == 404
    for action, data in (
        ("accept", {}),
        ("reject", {"reason": "not ours"}),
        ("printed", {}),
        ("shipped", {"tracking_number": "1Z"}),
    ):
        assert client.post_form(f"/print-jobs/{theirs.id}/{action}", data).status_code == 404
    # Exactly what a job that does not exist at all answers: nothing is revealed.
    assert client.get("/print-jobs/999999").status_code == 404
    assert client.get("/print-jobs/999999/files/0").status_code == 404
    assert theirs.status is PrintJobStatus.READY


def test_a_file_position_past_the_end_is_404(client, jobs):
    mine, _ = jobs
    client.login("vendor@example.org")
    assert client.get(f"/print-jobs/{mine.id}/files/4").status_code == 404


def test_downloads_stream_with_filename_and_checksum(client, db, jobs):
    mine, _ = jobs
    client.login("vendor@example.org")
    received = {}
    for kind, position in FILE_POSITIONS.items():
        job_file = mine.files[position]
        response = client.get(f"/print-jobs/{mine.id}/files/{position}")
        assert response.status_code == 200
        assert response.is_streamed
        data = response.get_data()
        received[kind] = data
        digest = hashlib.sha256(data).digest()
        assert response.headers["X-Checksum-SHA256"] == digest.hex() == job_file.sha256
        assert response.headers["Repr-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
        assert response.headers["Content-Length"] == str(len(data))
        assert response.headers["Content-Disposition"] == (
            f"attachment; filename=print-job-{mine.id}-{job_file.filename}"
        )
        assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Content-Type"] == "application/zip"
    assert len(pypdf.PdfReader(io.BytesIO(received["pdf"])).pages) == 1
    assert received["manifest_json"].startswith(b"{")
    assert received["manifest_csv"].decode("utf-8-sig").startswith("variant_key,variant_name")
    with zipfile.ZipFile(io.BytesIO(received["zip"])) as archive:
        assert archive.read(mine.files[0].filename) == received["pdf"]


def test_a_range_request_resumes_a_download(client, jobs):
    mine, _ = jobs
    client.login("vendor@example.org")
    whole = client.get(f"/print-jobs/{mine.id}/files/3").get_data()
    response = client.get(f"/print-jobs/{mine.id}/files/3", headers={"Range": "bytes=100-"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    assert response.get_data() == whole[100:]
    assert response.headers["X-Checksum-SHA256"] == hashlib.sha256(whole).hexdigest()


def test_the_first_vendor_download_marks_the_job_downloaded_but_staff_ones_do_not(
    app, client, db, jobs
):
    mine, _ = jobs
    staff = app.test_client()
    staff.login("marketer@example.org")
    assert staff.get(f"/print-jobs/{mine.id}/files/0").status_code == 200
    db.expire_all()
    assert db.get(PrintJob, mine.id).status is PrintJobStatus.READY
    client.login("vendor@example.org")
    client.get(f"/print-jobs/{mine.id}/files/3")
    client.get(f"/print-jobs/{mine.id}/files/0")
    db.expire_all()
    job = db.get(PrintJob, mine.id)
    assert job.status is PrintJobStatus.DOWNLOADED
    assert [(e.to_status, e.actor, e.note) for e in job.history if e.is_transition][-1] == (
        PrintJobStatus.DOWNLOADED,
        "vendor@example.org",
        f"Downloaded {job.files[3].filename}",
    )


def test_job_files_are_not_served_from_the_public_media_route(client, jobs):
    mine, _ = jobs
    for job_file in mine.files:
        assert client.get(f"/media/{job_file.sha256}.pdf").status_code == 404


def test_vendor_accepts_prints_and_ships_through_the_forms(client, db, jobs):
    mine, _ = jobs
    client.login("vendor@example.org")
    url = f"/print-jobs/{mine.id}"
    page = client.post_form(f"{url}/accept", follow_redirects=True).get_data(as_text=True)
    assert "Download the files first, then accept the job." in page
    client.get(f"{url}/files/0")
    page = client.post_form(f"{url}/accept", follow_redirects=True).get_data(as_text=True)
    assert f"Print job #{mine.id} is now accepted." in page
    client.post_form(f"{url}/printed")
    page = client.post_form(f"{url}/shipped", {"tracking_number": ""}, follow_redirects=True)
    assert "Enter the shipment&#39;s tracking number." in page.get_data(as_text=True)
    client.post_form(f"{url}/shipped", {"tracking_number": "1Z999AA10123456784"})
    db.expire_all()
    job = db.get(PrintJob, mine.id)
    assert job.status is PrintJobStatus.SHIPPED and job.tracking_number == "1Z999AA10123456784"
    page = client.get(url).get_data(as_text=True)
    assert "1Z999AA10123456784" in page and "Update the job" not in page


def test_vendor_rejects_with_a_reason_the_marketer_then_reads(app, client, db, jobs):
    mine, _ = jobs
    client.login("vendor@example.org")
    response = client.post_form(f"/print-jobs/{mine.id}/reject", {"reason": ""})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(PrintJob, mine.id).status is PrintJobStatus.READY
    client.post_form(f"/print-jobs/{mine.id}/reject", {"reason": "The crest on page 1 is blurry."})
    marketer = app.test_client()
    marketer.login("marketer@example.org")
    page = marketer.get(f"/print-jobs/{mine.id}").get_data(as_text=True)
    assert "Rejected" in page and "The crest on page 1 is blurry." in page
    assert "ready → rejected" in page and "vendor@example.org" in page


def test_staff_see_every_job_with_history_but_only_admins_change_one(app, client, db, jobs):
    mine, theirs = jobs
    client.login("viewer@example.org")
    listing = client.get("/print-jobs").get_data(as_text=True)
    assert f"/print-jobs/{mine.id}" in listing and f"/print-jobs/{theirs.id}" in listing
    assert "Second Print Co" in listing
    page = client.get(f"/print-jobs/{theirs.id}").get_data(as_text=True)
    assert "History" in page and "Job created with 1 PDF(s), 750 copies in 3 variant(s)" in page
    assert "Accept the job" not in page and "Reject the job" not in page
    assert client.post_form(f"/print-jobs/{theirs.id}/reject", {"reason": "x"}).status_code == 403
    admin = app.test_client()
    admin.login("admin@example.org")
    page = admin.get(f"/print-jobs/{theirs.id}").get_data(as_text=True)
    assert "Reject the job" in page
    admin.post_form(f"/print-jobs/{theirs.id}/reject", {"reason": "Vendor called: wrong stock"})
    db.expire_all()
    assert db.get(PrintJob, theirs.id).status is PrintJobStatus.REJECTED


def test_the_status_filter_narrows_the_list(client, db, jobs):
    mine, _ = jobs
    client.login("vendor@example.org")
    client.get(f"/print-jobs/{mine.id}/files/0")
    assert f"/print-jobs/{mine.id}" in client.get("/print-jobs?status=downloaded").text
    ready = client.get("/print-jobs?status=ready").get_data(as_text=True)
    assert f"/print-jobs/{mine.id}" not in ready and "No print jobs are ready." in ready
    assert f"/print-jobs/{mine.id}" in client.get("/print-jobs?status=nonsense").text


def test_the_notice_links_to_the_job_page(app, client, db, samples):
    message = build_print_message(db, samples.version_id, print_target(samples.vendor.id))
    db.commit()
    result = print_adapter(app, samples.export_account.id).send(message, idempotency_key="k")
    (record,) = list_records(app.extensions["settings"].instance_dir, samples.notice_account.id)
    link = next(word for word in record.data["text"].split() if word.startswith("https://"))
    path = urlsplit(link).path
    assert path == PORTAL_JOB_PATH.format(job_id=result.external_id)
    client.login("vendor@example.org")
    page = client.get(path)
    assert page.status_code == 200 and f"Print job #{result.external_id}" in page.text
