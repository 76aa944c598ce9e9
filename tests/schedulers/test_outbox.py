import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign_manager.campaigns.models import CampaignStatus, Delivery, DeliveryStatus, Event
from campaign_manager.channels.base import Failed, RetryLater
from campaign_manager.channels.models import RateLimits
from campaign_manager.core.db import Database, utcnow
from schedulers.outbox import claim_due_deliveries, recover_expired_leases, resolve_uncertain
from schedulers.retry import RetryPolicy
from schedulers.worker import DeliveryWorker, WorkerSettings


def make_worker(app, renderer, adapters, **settings):
    database = app.extensions["database"]
    return DeliveryWorker(database, renderer, adapters, WorkerSettings(**settings), name="w1")


def statuses(db):
    db.expire_all()
    return {d.recipient_key: d for d in db.scalars(select(Delivery))}


def test_worker_sends_due_deliveries_once_and_records_outcomes(
    app, db, add_deliveries, renderer, adapters
):
    ids = add_deliveries(3)
    add_deliveries(1, keys=["later@example.org"], due_in=timedelta(hours=1))
    worker = make_worker(app, renderer, adapters)
    assert worker.run_batch() == 3
    assert worker.run_batch() == 0
    sent = adapters.adapter(1).sent
    assert [key for key, _ in sent] == [f"cm-delivery-{i}" for i in ids]
    rows = statuses(db)
    assert rows["person0@example.org"].status is DeliveryStatus.SENT
    assert rows["person0@example.org"].external_id == f"ext-cm-delivery-{ids[0]}"
    assert rows["person0@example.org"].attempts == 1
    assert rows["later@example.org"].status is DeliveryStatus.PENDING
    assert db.scalar(select(Event).where(Event.delivery_id == ids[0])).kind.value == "sent"


def test_paused_campaign_sends_nothing(app, db, add_deliveries, renderer, adapters, running_step):
    add_deliveries(2)
    running_step.campaign.status = CampaignStatus.PAUSED
    db.commit()
    assert make_worker(app, renderer, adapters).run_batch() == 0
    assert adapters.adapter(1).sent == []


def test_retry_later_backs_off_the_account_and_honours_retry_after(
    app, db, add_deliveries, renderer, adapters
):
    add_deliveries(2)
    adapters.adapter(1).script.append(RetryLater(120, "429 Too Many Requests"))
    worker = make_worker(app, renderer, adapters, batch_size=1)
    before = utcnow()
    worker.run_batch()
    rows = statuses(db)
    first = rows["person0@example.org"]
    assert first.status is DeliveryStatus.PENDING and first.attempts == 1
    assert first.next_attempt_at >= before + timedelta(seconds=120)
    assert first.error == "429 Too Many Requests"
    # The whole account waits: the second delivery is not claimed either.
    assert worker.run_batch() == 0
    assert len(adapters.adapter(1).sent) == 1


def test_retry_after_holds_the_rest_of_the_batch_for_that_account(
    app, db, add_deliveries, renderer, adapters
):
    add_deliveries(3)
    add_deliveries(1, account_id=2, keys=["other.account@example.org"])
    adapters.adapter(1).script.append(RetryLater(120, "429 Too Many Requests"))
    before = utcnow()
    assert make_worker(app, renderer, adapters, batch_size=10).run_batch() == 4
    # One call to the throttled account, none after its 429 in the same batch.
    assert len(adapters.adapter(1).sent) == 1
    assert len(adapters.adapter(2).sent) == 1
    rows = statuses(db)
    for key in ("person1@example.org", "person2@example.org"):
        held = rows[key]
        assert held.status is DeliveryStatus.PENDING and held.attempts == 0
        assert held.next_attempt_at >= before + timedelta(seconds=120)
        assert held.reason == "the provider asked us to wait"
    assert rows["other.account@example.org"].status is DeliveryStatus.SENT


def test_a_batch_that_cannot_be_prepared_gives_its_rows_back_untried(
    app, db, add_deliveries, adapters
):
    class LostDatabase:
        def render(self, session, delivery):
            raise RuntimeError("server closed the connection unexpectedly")

    add_deliveries(2)
    worker = make_worker(app, LostDatabase(), adapters)
    with pytest.raises(RuntimeError):
        worker.run_batch()
    # Not left in `sending` for lease recovery to call uncertain: nothing was sent.
    for row in statuses(db).values():
        assert row.status is DeliveryStatus.PENDING and row.attempts == 0
        assert row.reason.startswith("the worker stopped before sending it")
    assert adapters.adapter(1).sent == []


def test_attempts_are_capped_then_failed(app, db, add_deliveries, renderer, adapters):
    add_deliveries(1)
    adapter = adapters.adapter(1)
    policy = RetryPolicy(max_attempts=3, base_seconds=0.001, max_seconds=0.001)
    worker = make_worker(app, renderer, adapters, retry=policy)
    for _ in range(3):
        adapter.script.append(Failed("temporary DNS failure", permanent=False))
        db.execute(Delivery.__table__.update().values(next_attempt_at=utcnow()))
        db.commit()
        worker.run_batch()
    row = statuses(db)["person0@example.org"]
    assert row.status is DeliveryStatus.FAILED
    assert row.attempts == 3 and "gave up after 3 attempts" in row.reason


def test_permanent_failure_and_render_errors_fail_without_retry(
    app, db, add_deliveries, renderer, adapters
):
    add_deliveries(2, keys=["bad@example.org", "broken"])
    adapters.adapter(1).script.append(Failed("550 mailbox does not exist"))
    make_worker(app, renderer, adapters).run_batch()
    rows = statuses(db)
    assert rows["bad@example.org"].status is DeliveryStatus.FAILED
    assert rows["broken"].status is DeliveryStatus.FAILED
    assert "template error on line 3" in rows["broken"].error
    assert rows["broken"].attempts == 0  # nothing was sent
    assert len(adapters.adapter(1).sent) == 1


def test_maybe_delivered_is_uncertain_unless_idempotent(
    app, db, add_deliveries, renderer, adapters
):
    add_deliveries(1, account_id=1, keys=["plain@example.org"])
    add_deliveries(1, account_id=2, keys=["idem@example.org"])
    adapters.adapter(1).script.append(RetryLater(1, "read timeout", maybe_delivered=True))
    adapters.by_account[2] = type(adapters.adapter(1))(idempotent=True)
    adapters.adapter(2).script.append(RetryLater(1, "read timeout", maybe_delivered=True))
    make_worker(app, renderer, adapters).run_batch()
    rows = statuses(db)
    assert rows["plain@example.org"].status is DeliveryStatus.UNCERTAIN
    assert rows["idem@example.org"].status is DeliveryStatus.PENDING


def test_expired_leases_retry_idempotent_and_make_the_rest_uncertain(
    app, db, add_deliveries, adapters
):
    add_deliveries(1, account_id=1, keys=["smtp@example.org"])
    add_deliveries(1, account_id=2, keys=["api@example.org"])
    database = Database(app.extensions["database"].url)
    now = utcnow()
    with database.transaction() as session:
        claimed = claim_due_deliveries(session, "dead-worker", limit=10, lease_seconds=30, now=now)
    assert len(claimed) == 2
    with database.transaction() as session:
        assert recover_expired_leases(session, [2], now=now + timedelta(seconds=10)) == (0, 0)
    with database.transaction() as session:
        assert recover_expired_leases(session, [2], now=now + timedelta(seconds=31)) == (1, 1)
    rows = statuses(db)
    assert rows["smtp@example.org"].status is DeliveryStatus.UNCERTAIN
    assert rows["api@example.org"].status is DeliveryStatus.PENDING
    # A person checks the provider and decides.
    with database.transaction() as session:
        resolve_uncertain(session, rows["smtp@example.org"].id, mark_sent=True)
    assert statuses(db)["smtp@example.org"].status is DeliveryStatus.SENT
    database.dispose()


def test_throttle_limits_per_second_across_workers(app, db, add_deliveries, renderer, adapters):
    add_deliveries(5)
    adapters.limits[1] = RateLimits(per_second=2)
    frozen = (utcnow() + timedelta(seconds=1)).replace(microsecond=0)
    first = DeliveryWorker(
        app.extensions["database"], renderer, adapters, name="w1", clock=lambda: frozen
    )
    second = DeliveryWorker(
        app.extensions["database"], renderer, adapters, name="w2", clock=lambda: frozen
    )
    first.run_batch()
    second.run_batch()
    # Two workers in the same second share the account's budget of 2.
    assert len(adapters.adapter(1).sent) == 2
    rows = statuses(db)
    throttled = [r for r in rows.values() if r.status is DeliveryStatus.PENDING]
    assert len(throttled) == 3
    assert all(
        r.reason == "throttled" and r.next_attempt_at >= frozen + timedelta(seconds=1)
        for r in throttled
    )


def test_retry_policy_jitter_stays_within_bounds():
    policy = RetryPolicy(base_seconds=10, max_seconds=100)
    rng = random.Random(7)
    for attempts, ceiling in ((1, 10), (2, 20), (3, 40), (10, 100)):
        delays = [policy.delay(attempts, rng=rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert policy.delay(1, provider_says=500, rng=rng) == 500
