"""`web`: the busiest pages under load, served by gunicorn, with a large audience.

Work: a PostgreSQL database with 1,000,000 contacts and a running campaign with 1,000,000
deliveries (at the real size), served by gunicorn (2 workers x 4 threads, the reference
machine's two cores) while Locust, headless, plays marketers who sign in and keep opening
the dashboard, the contacts list, the segment builder's live count and the campaign page.
Reports p50 and p95 response time per page; goal: p95 under 200 ms. There is no baseline.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

from campaign_manager.bench.campaigns import BENCH_PASSWORD, BENCH_USER, bench_user, email_campaign
from campaign_manager.bench.data import seed_contacts
from campaign_manager.bench.environment import BENCH_SECRET, BenchContext, database_of
from campaign_manager.bench.harness import Goal, Row, progress
from campaign_manager.bench.segments import THREE_CONDITIONS
from campaign_manager.campaigns.models import CampaignStatus
from campaign_manager.core.db import utcnow

NAME = "web"
FULL_SIZE = 1_000_000
USERS = 8
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
GOAL_P95_SECONDS = 0.2
PAGES = ("dashboard", "contacts list", "segment builder count", "campaign page")
LOCUSTFILE = Path(__file__).with_name("web_locustfile.py")

# The campaign's deliveries, as a week of sending leaves them: mostly sent over the past
# days, some still pending, a few failed or uncertain (the dashboard lists those).
DELIVERIES = """
INSERT INTO deliveries (step_id, occurrence, recipient_key, contact_id, channel_account_id,
    creative_version_id, status, reason, variant_key, segment_slug, attempts,
    next_attempt_at, sent_at, worker, external_id, error, created_at, updated_at)
SELECT s.id, '0', 'contact:' || c.id, c.id, s.channel_account_id, s.creative_version_id,
    CASE WHEN c.id % 100 = 0 THEN 'failed' WHEN c.id % 1000 = 1 THEN 'uncertain'
         WHEN c.id % 10 = 2 THEN 'pending' ELSE 'sent' END,
    '', '', 'benchmark-audience', 1,
    now() + interval '1 day',
    CASE WHEN c.id % 10 IN (0, 1, 2) THEN NULL ELSE now() - (c.id % 7) * interval '1 day' END,
    '', 'ext-' || c.id, '', now() - interval '7 days', now() - (c.id % 7) * interval '1 day'
FROM contacts c CROSS JOIN steps s
WHERE s.id = :step_id
"""


def run(ctx: BenchContext) -> list[Row]:
    count = ctx.size(FULL_SIZE, minimum=1000)
    # Seconds of load: 30 at the default scale, 60 from --scale 0.1 up, 5 at least.
    duration = max(5, min(60, round(600 * ctx.scale)))
    with ctx.app("postgresql") as app:
        database = database_of(app)
        settings = app.extensions["settings"]
        progress(f"web: seeding {count:,} contacts and {count:,} deliveries")
        with database.transaction() as session:
            owner = bench_user(session)
            seed_contacts(session, count, ctx.seed)
            kit = email_campaign(
                session,
                owner=owner,
                adapter="sandbox_email",
                account_settings={},
                run_at=[utcnow()],
                status=CampaignStatus.RUNNING,
            )
            session.execute(text(DELIVERIES), {"step_id": kit.step_ids[0]})
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "CAMPAIGN_MANAGER_DATABASE_URL": settings.database_url,
            "CAMPAIGN_MANAGER_APP_SECRET_KEY": BENCH_SECRET,
            "CAMPAIGN_MANAGER_APP_INSTANCE_PATH": str(settings.instance_dir),
            "CAMPAIGN_MANAGER_APP_BASE_URL": base,
            "CAMPAIGN_MANAGER_APP_LOG_LEVEL": "WARNING",
        }
        env.pop("CAMPAIGN_MANAGER_CONFIG", None)
        progress(f"web: gunicorn on {base}, then Locust with {USERS} users for {duration} s")
        server = subprocess.Popen(  # noqa: S603 - our own arguments
            [
                sys.executable, "-m", "gunicorn",
                "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
                "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                "campaign_manager.app:create_app()",
            ],
            env=env,
        )  # fmt: skip
        try:
            _wait_until_up(base, server)
            stats = _load(ctx, base, duration, kit.campaign_id)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    rows = []
    for page in PAGES:
        found = stats.get(page)
        if found is None:
            rows.append(Row(NAME, page, skipped="Locust made no request to this page", failed=True))
            continue
        requests, failures = int(found["Request Count"]), int(found["Failure Count"])
        row = Row(
            benchmark=NAME,
            work=f"{page}: {requests:,} requests, {count:,} contacts and deliveries",
            size=requests,
            latency={"p50": float(found["50%"]) / 1000, "p95": float(found["95%"]) / 1000},
        )
        met = row.latency["p95"] < GOAL_P95_SECONDS and failures == 0
        row.goal = Goal(f"p95 < {GOAL_P95_SECONDS * 1000:.0f} ms", met)
        if failures:
            row.notes.append(f"{page}: {failures} of {requests} requests failed")
        rows.append(row)
    rows[0].notes.append(
        f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads; Locust {USERS} users, "
        f"{duration} s, 0.2-1 s between requests"
    )
    return rows


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn stopped at start (exit {server.returncode})")
        try:
            with urllib.request.urlopen(base + "/login", timeout=5):  # noqa: S310 - our own http
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("gunicorn did not answer within 60 s")


def _load(ctx: BenchContext, base: str, duration: int, campaign_id: int) -> dict[str, dict]:
    """Run Locust headless; return its summary statistics by request name."""
    prefix = ctx.scratch("web") / "locust"
    env = {
        **os.environ,
        "CM_BENCH_EMAIL": BENCH_USER,
        "CM_BENCH_PASSWORD": BENCH_PASSWORD,
        "CM_BENCH_CAMPAIGN_ID": str(campaign_id),
        "CM_BENCH_SEGMENT_RULES": json.dumps(THREE_CONDITIONS),
    }
    result = subprocess.run(  # noqa: S603 - our own arguments
        [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", f"{duration}s",
            "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + 120,
    )  # fmt: skip
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.is_file():
        raise RuntimeError(
            f"Locust wrote no statistics (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    with stats_file.open(newline="", encoding="utf-8") as file:
        return {row["Name"]: row for row in csv.DictReader(file)}
