"""`email`: personalised emails through the whole engine into a local SMTP sink.

Engine: a due step is materialised (jobs.run_step), then delivery workers claim, render
(MJML compiled once per variant, Jinja per recipient), build MIME, send over SMTP and
record each outcome, until every delivery is sent. Baseline: plain smtplib sending the
very messages the engine sent (replayed from the sink) over one connection into the
same sink. Goal: at least 0.5 of the baseline's rate, i.e. a time ratio of at most 2.0.
"""

from __future__ import annotations

import smtplib
import threading
from datetime import timedelta

from sqlalchemy import func, select

from campaign_manager.bench.campaigns import bench_user, email_campaign
from campaign_manager.bench.data import seed_contacts
from campaign_manager.bench.environment import BenchContext, database_of
from campaign_manager.bench.harness import Goal, Row, Timing, progress, repeat, timed
from campaign_manager.bench.smtp_sink import SmtpSink
from campaign_manager.campaigns.models import Delivery, DeliveryStatus
from campaign_manager.core.db import utcnow
from schedulers import jobs
from schedulers.adapters import AccountAdapters
from schedulers.rendering import DeliveryRenderer
from schedulers.runner import worker_settings
from schedulers.worker import DeliveryWorker

NAME = "email"
FULL_SIZE = 20_000
WORKERS = 2  # one per core of the reference machine
BASELINE_REPEATS = 3


def run(ctx: BenchContext) -> list[Row]:
    backend = "postgresql" if ctx.postgres_server else "sqlite"
    count = ctx.size(FULL_SIZE, minimum=20)
    kept = ctx.scratch("email") / "messages"
    with ctx.app(backend) as app, SmtpSink(keep_to=kept) as sink:
        database = database_of(app)
        settings = app.extensions["settings"]
        with database.transaction() as session:
            owner = bench_user(session)
            seed_contacts(session, count, ctx.seed)
            kit = email_campaign(
                session,
                owner=owner,
                adapter="smtp",
                account_settings={"host": "127.0.0.1", "port": sink.port, "security": "none"},
                run_at=[utcnow() - timedelta(seconds=1)],
            )
        progress(f"email: {count:,} contacts on {backend}; sending through the engine")

        jobs.set_runtime(jobs.EngineRuntime(database, settings))
        try:
            seconds, _ = timed(lambda: _send_through_engine(app, kit.step_ids[0]))
        finally:
            jobs.set_runtime(None)
        with database.reading() as session:
            sent = session.scalar(
                select(func.count()).where(Delivery.status == DeliveryStatus.SENT)
            )
        if sent != count or sink.received != count:
            raise RuntimeError(
                f"the engine sent {sent} of {count} emails ({sink.received} reached the sink)"
            )
        engine = Timing((seconds,))

        messages = list(sink.messages())
        progress(f"email: replaying {len(messages):,} messages with smtplib")
        baseline = repeat(lambda: _replay(sink.port, messages), BASELINE_REPEATS)

    row = Row(
        benchmark=NAME,
        work=f"{count:,} emails ({backend})",
        size=count,
        unit="emails",
        engine=engine,
        baseline_name="smtplib, one connection",
        baseline=baseline,
        notes=[
            f"{WORKERS} worker threads; materialise + claim + render MJML/Jinja + MIME + SMTP "
            "+ record, timed from the due step to the last outcome recorded"
        ],
    )
    kept.unlink()
    ratio = row.ratio
    row.goal = Goal("≥ 0.5 of baseline rate (ratio ≤ 2.0)", ratio is not None and ratio <= 2.0)
    return [row]


def _send_through_engine(app, step_id: int) -> None:
    """Materialise the step, then run workers until nothing is pending any more."""
    database = database_of(app)
    settings = app.extensions["settings"]
    jobs.run_step(step_id)

    def work(number: int) -> None:
        adapters = AccountAdapters(database, settings.instance_dir)
        worker = DeliveryWorker(
            database,
            DeliveryRenderer(settings, app.extensions["token_signer"]),
            adapters,
            worker_settings(settings),
            name=f"bench-w{number}",
        )
        try:
            while worker.run_batch():
                pass
        finally:
            adapters.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _replay(port: int, messages: list[tuple[str, list[str], bytes]]) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        for mail_from, recipients, data in messages:
            client.sendmail(mail_from, recipients, data)
