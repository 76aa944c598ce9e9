"""The print-job status rules, their errors, the history, and who sees which job."""

from __future__ import annotations

from datetime import date

import pytest

from campaign_manager.channels.print_jobs import (
    PrintFileKind,
    PrintJob,
    PrintJobError,
    PrintJobFile,
    PrintJobNotFound,
    PrintJobStatus,
    change_status,
    record_download,
    visible_file,
    visible_job,
    visible_jobs,
)
from campaign_manager.core.accounts import Role, create_user, create_vendor
from tests.conftest import TEST_PASSWORD

S = PrintJobStatus


@pytest.fixture
def other_vendor_user(db, users):
    vendor = create_vendor(db, "Rival Print", "rival@example.org")
    user = create_user(db, "rival@example.org", TEST_PASSWORD, Role.VENDOR, vendor=vendor)
    db.commit()
    return user


def bare_job(db, vendor_id: int, title: str = "Flyer") -> PrintJob:
    """A job without real files: these tests are about status and visibility only."""
    job = PrintJob(
        idempotency_key=f"key-{title}",
        vendor_id=vendor_id,
        title=title,
        status=S.READY,
        quantity=100,
        profile="letter-flyer",
        paper_stock="100 lb gloss",
        due_date=date(2031, 1, 31),
    )
    job.files.append(
        PrintJobFile(
            position=0,
            kind=PrintFileKind.PDF,
            filename="flyer.pdf",
            content_type="application/pdf",
            size=4,
            sha256="0" * 64,
        )
    )
    db.add(job)
    db.commit()
    return job


def test_the_whole_way_from_ready_to_shipped_is_recorded(db, users):
    vendor_user = users["vendor"]
    job = bare_job(db, vendor_user.vendor_id)
    assert record_download(db, job.files[0], vendor_user) is True
    assert record_download(db, job.files[0], vendor_user) is False  # only the first counts
    change_status(db, job, S.ACCEPTED, vendor_user)
    change_status(db, job, S.PRINTED, vendor_user)
    change_status(db, job, S.SHIPPED, vendor_user, tracking_number=" 1Z999AA10123456784 ")
    db.commit()
    assert job.status is S.SHIPPED and job.tracking_number == "1Z999AA10123456784"
    assert [(e.from_status, e.to_status, e.actor, e.note) for e in job.history] == [
        (S.READY, S.DOWNLOADED, "vendor@example.org", "Downloaded flyer.pdf"),
        (S.DOWNLOADED, S.ACCEPTED, "vendor@example.org", ""),
        (S.ACCEPTED, S.PRINTED, "vendor@example.org", ""),
        (S.PRINTED, S.SHIPPED, "vendor@example.org", "Tracking number 1Z999AA10123456784"),
    ]
    assert all(e.user_id == vendor_user.id for e in job.history)
    with pytest.raises(PrintJobError, match="is shipped; its status can no longer change"):
        change_status(db, job, S.REJECTED, vendor_user, reason="too late")


@pytest.mark.parametrize(
    ("path", "wanted", "message"),
    [
        ([], S.ACCEPTED, "is ready and cannot become accepted. Download the files first"),
        ([], S.PRINTED, "Accept the job before marking it printed"),
        ([S.DOWNLOADED], S.SHIPPED, "Mark the job printed before marking it shipped"),
        ([S.DOWNLOADED, S.ACCEPTED, S.PRINTED], S.REJECTED, "can be rejected until it is printed"),
        ([S.DOWNLOADED], S.DOWNLOADED, "is already downloaded"),
    ],
)
def test_moves_out_of_order_are_refused_with_what_to_do(db, users, path, wanted, message):
    vendor_user = users["vendor"]
    job = bare_job(db, vendor_user.vendor_id)
    for status in path:
        change_status(db, job, status, vendor_user)
    with pytest.raises(PrintJobError, match=message):
        change_status(db, job, wanted, vendor_user)
    assert job.status is (path[-1] if path else S.READY)


def test_rejecting_needs_a_reason_and_shipping_a_tracking_number(db, users):
    vendor_user = users["vendor"]
    job = bare_job(db, vendor_user.vendor_id)
    with pytest.raises(PrintJobError, match="Say why the job is rejected"):
        change_status(db, job, S.REJECTED, vendor_user, reason="   ")
    change_status(db, job, S.REJECTED, vendor_user, reason="The bleed is missing on page 2.")
    assert job.rejection_reason == "The bleed is missing on page 2."
    assert job.history[-1].note == "The bleed is missing on page 2."

    other = bare_job(db, vendor_user.vendor_id, title="Poster")
    for status in (S.DOWNLOADED, S.ACCEPTED, S.PRINTED):
        change_status(db, other, status, vendor_user)
    with pytest.raises(PrintJobError, match="Enter the shipment's tracking number"):
        change_status(db, other, S.SHIPPED, vendor_user)
    with pytest.raises(PrintJobError, match="one line of at most 200 characters"):
        change_status(db, other, S.SHIPPED, vendor_user, tracking_number="1Z\n2")
    assert other.status is S.PRINTED


def test_only_the_vendor_and_admins_change_a_job(db, users, other_vendor_user):
    job = bare_job(db, users["vendor"].vendor_id)
    for role in ("marketer", "approver", "viewer"):
        with pytest.raises(PrintJobError, match="Only the vendor's own users and administrators"):
            change_status(db, job, S.REJECTED, users[role], reason="no")
    # Another vendor is told there is no such job.
    with pytest.raises(PrintJobNotFound):
        change_status(db, job, S.REJECTED, other_vendor_user, reason="no")
    change_status(db, job, S.REJECTED, users["admin"], reason="Vendor asked by phone")
    assert job.history[-1].actor == "admin@example.org"


def test_staff_downloads_do_not_move_the_job(db, users):
    job = bare_job(db, users["vendor"].vendor_id)
    for role in ("admin", "marketer", "viewer"):
        assert record_download(db, job.files[0], users[role]) is False
    assert job.status is S.READY and job.history == []


def test_history_entries_cannot_be_edited(db, users):
    job = bare_job(db, users["vendor"].vendor_id)
    entry = change_status(db, job, S.DOWNLOADED, users["vendor"])
    db.commit()
    entry.note = "rewritten"
    with pytest.raises(PrintJobError, match="cannot be changed"):
        db.flush()


def test_vendors_see_only_their_own_jobs_and_staff_see_all(db, users, other_vendor_user):
    mine = bare_job(db, users["vendor"].vendor_id, title="Mine")
    theirs = bare_job(db, other_vendor_user.vendor_id, title="Theirs")
    assert [j.id for j in visible_jobs(db, users["vendor"])] == [mine.id]
    assert [j.id for j in visible_jobs(db, other_vendor_user)] == [theirs.id]
    assert {j.id for j in visible_jobs(db, users["viewer"])} == {mine.id, theirs.id}
    assert visible_jobs(db, users["admin"], status=S.DOWNLOADED) == []
    with pytest.raises(PrintJobNotFound):
        visible_job(db, users["vendor"], theirs.id)
    with pytest.raises(PrintJobNotFound):
        visible_file(db, users["vendor"], theirs.id, 0)
    with pytest.raises(PrintJobNotFound):
        visible_file(db, users["vendor"], mine.id, 1)
    assert visible_file(db, users["vendor"], mine.id, 0).filename == "flyer.pdf"
    assert visible_job(db, users["marketer"], theirs.id) is theirs
