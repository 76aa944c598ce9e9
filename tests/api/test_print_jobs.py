"""Print jobs through the API: staff see every job; a vendor's token only its company's."""

from __future__ import annotations

import pytest

from tests.channels.print_samples import make_print_job, make_print_samples


@pytest.fixture
def jobs(db, users):
    """One job for the `users` fixture's vendor and one for a second vendor."""
    samples = make_print_samples(db)
    mine = make_print_job(db, samples, "api-job-a", variants=["lincoln-high"])
    theirs = make_print_job(db, samples, "api-job-b", vendor=samples.other_vendor)
    return mine, theirs


def test_a_vendor_token_sees_only_its_own_jobs(api, jobs):
    mine, theirs = jobs
    listed = api.vendor.get("/api/v1/print-jobs")
    assert listed.status_code == 200
    assert [j["id"] for j in listed.get_json()["data"]] == [mine.id]
    one = api.vendor.get(f"/api/v1/print-jobs/{mine.id}").get_json()
    assert one["vendor"]["name"] == "Test Print Co"
    assert one["files"][0]["kind"] == "pdf"
    assert all(len(f["sha256"]) == 64 for f in one["files"])
    hidden = api.vendor.get(f"/api/v1/print-jobs/{theirs.id}")
    assert hidden.status_code == 404, "another vendor's job is as good as absent"
    assert hidden.mimetype == "application/problem+json"


def test_staff_see_every_job_and_filter_by_status(api, jobs):
    mine, theirs = jobs
    listed = api.viewer.get("/api/v1/print-jobs").get_json()["data"]
    assert [j["id"] for j in listed] == [theirs.id, mine.id]
    assert api.approver.get(f"/api/v1/print-jobs/{theirs.id}").status_code == 200
    ready = api.viewer.get("/api/v1/print-jobs?status=ready").get_json()["data"]
    assert len(ready) == 2
    assert api.viewer.get("/api/v1/print-jobs?status=shipped").get_json()["data"] == []
    assert api.viewer.get("/api/v1/print-jobs?status=lost").status_code == 422
