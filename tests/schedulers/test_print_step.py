"""A due print step through the engine: one job for the vendor, PDFs per school, a notice."""

from datetime import timedelta

from sqlalchemy import select

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.channels.print_jobs import PrintJob
from campaign_manager.core.db import utcnow
from creatives.versions import freeze_current_version
from schedulers import jobs
from schedulers.adapters import AccountAdapters
from schedulers.rendering import DeliveryRenderer
from schedulers.worker import DeliveryWorker
from tests.channels.print_samples import make_print_samples, print_target


def test_a_print_step_makes_one_job_for_its_vendor(app, db, users):
    samples = make_print_samples(db)
    version = freeze_current_version(db, samples.piece.id)
    campaign = Campaign(
        name="Flyers", status=CampaignStatus.APPROVED, created_by_id=users["marketer"].id
    )
    step = Step(
        campaign=campaign,
        name="Flyers for two schools",
        channel_account_id=samples.export_account.id,
        channel_kind="print",
        creative_id=samples.piece.id,
        creative_version_id=version.id,
        trigger=TriggerKind.AT,
        run_at=utcnow() - timedelta(seconds=1),
        target=print_target(samples.vendor.id, variants=["lincoln-high", "roosevelt-high"]),
    )
    db.add_all([campaign, step])
    db.commit()
    settings, database = app.extensions["settings"], app.extensions["database"]
    jobs.set_runtime(jobs.EngineRuntime(database, settings))
    adapters = AccountAdapters(database, settings.instance_dir)
    try:
        jobs.run_step(step.id)
        worker = DeliveryWorker(
            database, DeliveryRenderer(settings, app.extensions["token_signer"]), adapters
        )
        assert worker.run_batch() == 1
    finally:
        adapters.close()
        jobs.set_runtime(None)
    db.expire_all()
    delivery = db.scalar(select(Delivery))
    assert delivery.status is DeliveryStatus.SENT, delivery.error
    job = db.scalar(select(PrintJob))
    assert delivery.external_id == str(job.id)
    assert job.vendor_id == samples.vendor.id and job.step_id == step.id
    assert job.manifest["variants"] and len(job.manifest["variants"]) == 2
