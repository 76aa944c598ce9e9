"""Print jobs through the API: staff follow them, and a vendor's token sees and changes only
its own company's jobs (another vendor's answer 404, as missing ones do)."""

from __future__ import annotations

import hashlib
import io
import json

import pypdf
import pytest

from campaign_manager.channels.print_jobs import PrintJobStatus
from campaign_manager.core.api_tokens import create_token
from tests.api.conftest import ApiClient
from tests.channels.print_samples import make_print_job, make_print_samples

PROBLEM = "application/problem+json"


@pytest.fixture
def jobs(db, users):
    """One job for the `users` fixture's vendor (A) and one for a second vendor (B)."""
    samples = make_print_samples(db)
    mine = make_print_job(db, samples, "job-a", variants=["lincoln-high"])
    theirs = make_print_job(db, samples, "job-b", vendor=samples.other_vendor)
    return mine, theirs, samples


@pytest.fixture
def vendor_b(app, db, jobs):
    secret = create_token(db, jobs[2].other_vendor_user, "vendor b").secret
    db.commit()
    return ApiClient(app, secret)


def test_a_vendor_lists_and_reads_only_its_own_jobs(api, jobs, vendor_b):
    mine, theirs, _ = jobs
    listed = api.vendor.get("/api/v1/print-jobs").get_json()
    assert [j["id"] for j in listed["data"]] == [mine.id]
    assert listed["data"][0]["vendor"]["name"] == "Test Print Co"
    assert [j["id"] for j in vendor_b.get("/api/v1/print-jobs").get_json()["data"]] == [theirs.id]
    staff = api.viewer.get("/api/v1/print-jobs").get_json()
    assert {j["id"] for j in staff["data"]} == {mine.id, theirs.id}

    body = api.vendor.get(f"/api/v1/print-jobs/{mine.id}").get_json()
    assert body["status"] == "ready"
    assert [f["kind"] for f in body["files"]] == ["pdf", "manifest_json", "manifest_csv", "zip"]
    assert body["history"][0]["to_status"] == "ready"


def test_another_vendors_job_is_404_everywhere_like_a_missing_one(api, jobs, db):
    _, theirs, _ = jobs
    missing = api.vendor.get("/api/v1/print-jobs/999999")
    for path in (
        f"/api/v1/print-jobs/{theirs.id}",
        f"/api/v1/print-jobs/{theirs.id}/pdf",
        f"/api/v1/print-jobs/{theirs.id}/manifest",
        f"/api/v1/print-jobs/{theirs.id}/files/0",
    ):
        response = api.vendor.get(path)
        assert response.status_code == 404 == missing.status_code, path
        assert response.mimetype == PROBLEM
        assert "Second Print Co" not in response.get_data(as_text=True)
    for action, body in (
        ("accept", {}),
        ("reject", {"reason": "not ours"}),
        ("printed", {}),
        ("shipped", {"tracking_number": "1Z"}),
    ):
        response = api.vendor.post(f"/api/v1/print-jobs/{theirs.id}/{action}", json=body)
        assert response.status_code == 404, action
    db.refresh(theirs)
    assert theirs.status is PrintJobStatus.READY


def test_pdf_and_manifest_downloads_and_the_first_download_marks_it(api, jobs, db):
    mine, _, _ = jobs
    # Staff downloading to check a file do not count as the vendor's download.
    staff = api.marketer.get(f"/api/v1/print-jobs/{mine.id}/pdf")
    assert staff.status_code == 200
    db.refresh(mine)
    assert mine.status is PrintJobStatus.READY

    pdf = api.vendor.get(f"/api/v1/print-jobs/{mine.id}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    data = pdf.get_data()
    assert mine.files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert pdf.headers["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) >= 1
    manifest = api.vendor.get(f"/api/v1/print-jobs/{mine.id}/manifest")
    assert manifest.status_code == 200
    assert hashlib.sha256(manifest.get_data()).hexdigest() == mine.files[1].sha256
    assert isinstance(json.loads(manifest.get_data()), dict)
    csv = api.vendor.get(f"/api/v1/print-jobs/{mine.id}/files/2")
    assert csv.status_code == 200 and csv.mimetype.startswith("text/csv")
    assert api.vendor.get(f"/api/v1/print-jobs/{mine.id}/files/9").status_code == 404
    assert api.vendor.get(f"/api/v1/print-jobs/{mine.id}").get_json()["status"] == "downloaded"


def test_the_vendor_works_the_job_through(api, jobs):
    mine, _, _ = jobs
    path = f"/api/v1/print-jobs/{mine.id}"
    early = api.vendor.post(f"{path}/accept", json={})
    assert early.status_code == 409
    assert "Download the files first" in early.get_json()["detail"]
    api.vendor.get(f"{path}/pdf")
    assert api.vendor.post(f"{path}/accept").get_json()["status"] == "accepted"
    assert api.vendor.post(f"{path}/printed").get_json()["status"] == "printed"
    missing = api.vendor.post(f"{path}/shipped", json={})
    assert missing.status_code == 422
    assert missing.get_json()["errors"][0]["field"] == "tracking_number"
    shipped = api.vendor.post(f"{path}/shipped", json={"tracking_number": "1Z999"})
    assert shipped.status_code == 200
    body = shipped.get_json()
    assert body["status"] == "shipped" and body["tracking_number"] == "1Z999"
    assert body["next_statuses"] == []
    assert [h["to_status"] for h in body["history"]] == [
        "ready",
        "downloaded",
        "accepted",
        "printed",
        "shipped",
    ]


def test_reject_needs_a_reason(api, jobs):
    mine, _, _ = jobs
    path = f"/api/v1/print-jobs/{mine.id}/reject"
    assert api.vendor.post(path, json={"reason": ""}).status_code == 422
    rejected = api.vendor.post(path, json={"reason": "Bleed is missing"})
    assert rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["rejection_reason"] == "Bleed is missing"


def test_only_vendors_and_admins_change_jobs_and_everyone_reads(api, jobs):
    mine, _, _ = jobs
    for role in ("marketer", "approver", "viewer"):
        client = getattr(api, role)
        assert client.get(f"/api/v1/print-jobs/{mine.id}").status_code == 200
        assert (
            client.post(f"/api/v1/print-jobs/{mine.id}/reject", json={"reason": "x"}).status_code
            == 403
        )
    assert api.anonymous.get("/api/v1/print-jobs").status_code == 401
    assert (
        api.admin.post(f"/api/v1/print-jobs/{mine.id}/reject", json={"reason": "x"}).status_code
        == 200
    )


def test_list_pages_by_cursor(api, jobs, db):
    _, _, samples = jobs
    extra = [make_print_job(db, samples, f"job-{n}") for n in range(3)]
    first = api.vendor.get("/api/v1/print-jobs?limit=2").get_json()
    assert [j["id"] for j in first["data"]] == [extra[2].id, extra[1].id]
    second = api.vendor.get(f"/api/v1/print-jobs?limit=2&cursor={first['next_cursor']}")
    assert [j["id"] for j in second.get_json()["data"]] == [extra[0].id, jobs[0].id]
    assert second.get_json()["next_cursor"] is None
    ready = api.vendor.get("/api/v1/print-jobs?status=shipped").get_json()
    assert ready["data"] == []


def test_staff_see_every_job_and_filter_by_status(api, jobs):
    mine, theirs, _ = jobs
    listed = api.viewer.get("/api/v1/print-jobs").get_json()["data"]
    assert [j["id"] for j in listed] == [theirs.id, mine.id]
    assert api.approver.get(f"/api/v1/print-jobs/{theirs.id}").status_code == 200
    ready = api.viewer.get("/api/v1/print-jobs?status=ready").get_json()["data"]
    assert len(ready) == 2
    assert all(len(f["sha256"]) == 64 for f in ready[0]["files"])
    assert api.viewer.get("/api/v1/print-jobs?status=shipped").get_json()["data"] == []
    assert api.viewer.get("/api/v1/print-jobs?status=lost").status_code == 422
