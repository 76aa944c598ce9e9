"""`materialize`: the deliveries of one email step to a large segment, on PostgreSQL.

Engine: `materialize_step`, as the scheduler runs it when a step is due: the segment's
members in keyset batches, each classified (consent, suppression, age), given its send time
and variant, and written with INSERT … ON CONFLICT DO NOTHING, one transaction per batch.
Baseline: one INSERT … SELECT writing the same number of rows into the same table (same
indexes), for a second step. The issue sets no goal: it reports the rate and the ratio.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from campaign_manager.bench.campaigns import bench_user, email_campaign
from campaign_manager.bench.data import seed_contacts
from campaign_manager.bench.environment import BenchContext, database_of
from campaign_manager.bench.harness import Row, Timing, progress, timed
from campaign_manager.campaigns.models import Delivery
from campaign_manager.core.db import utcnow
from schedulers.materialize import materialize_step

NAME = "materialize"
FULL_SIZE = 1_000_000

# Every member, with the step's account and version, due now: what the engine writes for an
# eligible recipient (this audience has no one suppressed or skipped).
INSERT_SELECT = """
INSERT INTO deliveries (step_id, occurrence, recipient_key, contact_id, channel_account_id,
    creative_version_id, status, reason, variant_key, segment_slug, attempts,
    next_attempt_at, worker, external_id, error, created_at, updated_at)
SELECT s.id, '0', 'contact:' || c.id, c.id, s.channel_account_id, s.creative_version_id,
    'pending', '', '', 'benchmark-audience', 0, now(), '', '', '', now(), now()
FROM contacts c CROSS JOIN steps s
WHERE s.id = :step_id AND c.consent_email = 'granted' AND c.email IS NOT NULL
"""


def run(ctx: BenchContext) -> list[Row]:
    count = ctx.size(FULL_SIZE, minimum=1000)
    with ctx.app("postgresql") as app:
        database = database_of(app)
        settings = app.extensions["settings"]
        progress(f"materialize: seeding {count:,} contacts")
        now = utcnow() - timedelta(seconds=1)
        with database.transaction() as session:
            owner = bench_user(session)
            seed_contacts(session, count, ctx.seed)
            kit = email_campaign(
                session,
                owner=owner,
                adapter="sandbox_email",
                account_settings={},
                run_at=[now, now],
            )
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE contacts, contact_tags"))

        engine_step, baseline_step = kit.step_ids
        progress(f"materialize: {count:,} deliveries through the engine")
        seconds, result = timed(
            lambda: materialize_step(database, engine_step, "0", settings, now=now)
        )
        progress("materialize: INSERT … SELECT")
        baseline_seconds, _ = timed(lambda: _insert_select(database, baseline_step))
        with database.reading() as session:
            made = dict(
                session.execute(
                    select(Delivery.step_id, func.count()).group_by(Delivery.step_id)
                ).all()
            )
    if made.get(engine_step) != count or made.get(baseline_step) != count:
        raise RuntimeError(f"expected {count} deliveries per step, found {made}")
    return [
        Row(
            benchmark=NAME,
            work=f"{count:,} deliveries for one step",
            size=count,
            unit="rows",
            engine=Timing((seconds,)),
            baseline_name="one INSERT … SELECT",
            baseline=Timing((baseline_seconds,)),
            notes=[f"engine outcome by status: {dict(result.by_status)}; no goal in the issue"],
        )
    ]


def _insert_select(database, step_id: int) -> None:
    with database.engine.begin() as connection:
        connection.execute(text(INSERT_SELECT), {"step_id": step_id})
