"""The demo gives its vendor one ready job, with the notice recorded in a sandbox."""

from __future__ import annotations

import io

import pypdf
import pytest
from sqlalchemy import select

from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.demo import PRINT_EXPORT_NAME
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.channels.print_jobs import PrintJob, PrintJobStatus, visible_jobs
from campaign_manager.channels.registry import adapter_class
from campaign_manager.channels.sandbox import list_records
from campaign_manager.core.accounts import find_user_by_email
from campaign_manager.core.storage import storage_of
from campaign_manager.demo import load_demo

pytestmark = pytest.mark.sqlite_only


def test_the_demo_vendor_finds_a_ready_job_for_two_schools(app, db):
    settings = app.extensions["settings"]
    ctx = load_demo(db, settings)
    db.commit()
    account = ctx.channel_accounts[ChannelKind.PRINT]
    assert account.display_name == PRINT_EXPORT_NAME and account.adapter == "print_export"
    vendor_user = find_user_by_email(db, "vendor@example.org")
    (job,) = visible_jobs(db, vendor_user)
    assert job.status is PrintJobStatus.READY and job.vendor.name == "Keystone Print & Mail"
    assert [entry["quantity"] for entry in job.ship_to] == [250, 400]
    pdf = storage_of(db).get(job.files[0].sha256)
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 2
    notices = db.get(ChannelAccount, int(account.settings["notify_account_id"]))
    assert adapter_class(notices.adapter).sandbox is True
    (record,) = list_records(settings.instance_dir, notices.id)
    assert record.data["to"] == "jobs@keystone-print.example.org"
    assert f"{settings.app.base_url}/print-jobs/{job.id}" in record.data["text"]
    assert db.scalar(select(PrintJob.notified_at)) is not None
