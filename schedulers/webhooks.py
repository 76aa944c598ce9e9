"""Sending outgoing webhooks: claim due rows, POST them signed, record what the receiver said.

The same outbox machinery as campaign deliveries (schedulers/outbox.py: `claim_rows`,
`requeue_expired_leases`; schedulers/retry.py: `RetryPolicy`). Every delivery worker runs a
`WebhookSender` beside its delivery batches. No transaction is open during a POST.

A 2xx answer is delivered. Anything else (another status, a timeout, a refused
connection) is a failed attempt, retried with backoff until the attempts run out; a
receiver's Retry-After is honoured. Redirects are not followed: a signed POST is not
re-sent to another address. A row whose worker died is simply tried again (the event id
is the Idempotency-Key, so a receiver drops a repeat).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from sqlalchemy import Text, select, type_coerce
from sqlalchemy.orm import Session

from campaign_manager.core.config import Settings
from campaign_manager.core.crypto import CredentialsUnreadable, credential_cipher
from campaign_manager.core.db import Database, utcnow
from campaign_manager.core.security import signed_webhook_headers
from campaign_manager.core.webhooks import (
    TEST_EVENT_TYPE,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
    note_delivered,
    note_failed,
    prune_webhook_deliveries,
    queue_test_event,
)
from schedulers.outbox import claim_rows, requeue_expired_leases, rows_held_by
from schedulers.retry import RetryPolicy

log = logging.getLogger(__name__)

W = WebhookDeliveryStatus
# Seconds to wait for a TCP connection; the answer itself may take `timeout_seconds`.
CONNECT_TIMEOUT = 5.0
# How much of a receiver's error answer is kept in the delivery log.
ERROR_BODY_CHARS = 300
# How often a sender deletes old finished deliveries, and at most how many each time (a
# short transaction; a backlog goes over the following passes).
PRUNE_EVERY_SECONDS = 600.0
PRUNE_BATCH = 5000


@dataclass(frozen=True)
class WebhookSenderSettings:
    timeout_seconds: float = 10.0
    batch_size: int = 20
    disable_after_failures: int = 5
    # Finished deliveries are deleted after this many days; 0 keeps them.
    keep_deliveries_days: int = 30
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=8, base_seconds=60.0)
    )

    @property
    def lease_seconds(self) -> float:
        # Long enough for a whole batch of receivers that all time out.
        return self.batch_size * (self.timeout_seconds + CONNECT_TIMEOUT) + 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSenderSettings:
        hooks = settings.webhooks
        return cls(
            timeout_seconds=hooks.timeout_seconds,
            batch_size=hooks.batch_size,
            disable_after_failures=hooks.disable_after_failures,
            keep_deliveries_days=hooks.keep_deliveries_days,
            retry=RetryPolicy(
                max_attempts=hooks.max_attempts, base_seconds=hooks.retry_base_seconds
            ),
        )


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    delivery_id: int
    delivered: bool
    response_code: int | None = None
    error: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class _Prepared:
    delivery_id: int
    url: str
    secret: str
    body: bytes
    event_id: str


def claim_due_webhook_deliveries(
    session: Session, worker: str, *, limit: int, lease_seconds: float, now: datetime
) -> list[int]:
    """Due rows of enabled subscriptions (a test event goes out even while one is off)."""
    due = (
        select(WebhookDelivery.id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == W.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.enabled.is_(True) | (WebhookDelivery.event_type == TEST_EVENT_TYPE),
        )
    )
    return claim_rows(
        session,
        due,
        WebhookDelivery,
        sending=W.SENDING,
        worker=worker,
        limit=limit,
        lease_seconds=lease_seconds,
        now=now,
    )


def record_attempts(
    session: Session,
    attempts: list[Attempt],
    settings: WebhookSenderSettings,
    *,
    worker: str,
    now: datetime,
    rng: random.Random | None = None,
) -> None:
    """Write each attempt's outcome on rows this worker still holds."""
    if not attempts:
        return
    rows = rows_held_by(
        session,
        WebhookDelivery,
        [a.delivery_id for a in attempts],
        sending=W.SENDING,
        worker=worker,
    )
    for attempt in attempts:
        row = rows.get(attempt.delivery_id)
        if row is None:
            continue
        row.attempts += 1
        row.lease_until = None
        row.updated_at = now
        row.response_code = attempt.response_code
        is_test = row.event_type == TEST_EVENT_TYPE
        if attempt.delivered:
            row.status = W.DELIVERED
            row.delivered_at = now
            row.error = ""
            if not is_test:
                note_delivered(session, row.subscription_id)
            continue
        row.error = attempt.error
        # A test event answers the person who pressed the button now: no retries, and it
        # does not count towards turning the subscription off.
        retry_at = (
            None
            if is_test
            else settings.retry.retry_at(now, row.attempts, attempt.retry_after, rng)
        )
        if retry_at is not None:
            row.status = W.PENDING
            row.next_attempt_at = retry_at
            continue
        row.status = W.FAILED
        if not is_test and note_failed(
            session,
            row.subscription_id,
            attempt.error,
            disable_after=settings.disable_after_failures,
        ):
            log.warning(
                "webhook subscription %s turned off after repeated failures", row.subscription_id
            )
    session.flush()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _describe(response: requests.Response) -> str:
    text = " ".join(response.text[:ERROR_BODY_CHARS].split())
    return f"the receiver answered HTTP {response.status_code}" + (f": {text}" if text else "")


def send_test_event(
    session: Session,
    database: Database,
    settings: WebhookSenderSettings,
    subscription: WebhookSubscription,
    *,
    sender_name: str,
) -> WebhookDelivery:
    """Queue a `webhook.test` event for `subscription` and send it now, in this thread.

    The "Send test event" button and its API twin. It commits `session` (the row must be
    committed before a sender can claim it), then reloads the row: delivered, or failed
    with the receiver's answer in `error`.
    """
    row = queue_test_event(session, subscription)
    session.commit()
    sender = WebhookSender(database, settings, name=sender_name)
    try:
        sender.send_now(row.id)
    finally:
        sender.close()
    session.refresh(row)
    return row


class WebhookSender:
    """Claims and sends webhook deliveries; one per worker thread (it owns an HTTP session)."""

    def __init__(
        self,
        database: Database,
        settings: WebhookSenderSettings | None = None,
        *,
        name: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings or WebhookSenderSettings()
        self.name = name
        self.clock = clock
        self.http = requests.Session()
        self._last_recovery = 0.0
        self._last_pruning = -PRUNE_EVERY_SECONDS

    def close(self) -> None:
        self.http.close()

    def run_batch(self) -> int:
        """Claim, send and record one batch; return how many rows were handled."""
        self._recover_if_due()
        self._prune_if_due()
        with self.database.transaction() as session:
            ids = claim_due_webhook_deliveries(
                session,
                self.name,
                limit=self.settings.batch_size,
                lease_seconds=self.settings.lease_seconds,
                now=self.clock(),
            )
        return self.send_claimed(ids)

    def send_now(self, delivery_id: int) -> int:
        """Claim and send this one pending row at once (the "send test event" button)."""
        with self.database.transaction() as session:
            due = select(WebhookDelivery.id).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.status == W.PENDING
            )
            ids = claim_rows(
                session,
                due,
                WebhookDelivery,
                sending=W.SENDING,
                worker=self.name,
                limit=1,
                lease_seconds=self.settings.lease_seconds,
                now=self.clock(),
            )
        return self.send_claimed(ids)

    def send_claimed(self, ids: list[int]) -> int:
        if not ids:
            return 0
        prepared, attempts = self._prepare(ids)
        attempts.extend(self._post(item) for item in prepared)
        with self.database.transaction() as session:
            record_attempts(session, attempts, self.settings, worker=self.name, now=self.clock())
        return len(ids)

    def _prepare(self, ids: list[int]) -> tuple[list[_Prepared], list[Attempt]]:
        prepared: list[_Prepared] = []
        unreadable: list[Attempt] = []
        with self.database.reading() as session:
            rows = session.execute(
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.body,
                    WebhookDelivery.event_id,
                    WebhookSubscription.url,
                    # The ciphertext, decrypted below, so one unreadable secret fails its
                    # own rows and not the whole batch.
                    type_coerce(WebhookSubscription.secret, Text),
                )
                .join(WebhookSubscription)
                .where(WebhookDelivery.id.in_(ids))
                .order_by(WebhookDelivery.id)
            ).all()
        cipher = credential_cipher()
        for delivery_id, body, event_id, url, encrypted_secret in rows:
            try:
                secret = cipher.decrypt(encrypted_secret)
            except CredentialsUnreadable as exc:
                unreadable.append(Attempt(delivery_id, False, error=str(exc)))
                continue
            prepared.append(_Prepared(delivery_id, url, secret, body.encode(), event_id))
        return prepared, unreadable

    def _post(self, item: _Prepared) -> Attempt:
        try:
            response = self.http.post(
                item.url,
                data=item.body,
                headers=signed_webhook_headers(item.secret, item.body, item.event_id),
                timeout=(CONNECT_TIMEOUT, self.settings.timeout_seconds),
                allow_redirects=False,
            )
        except requests.Timeout:
            return Attempt(
                item.delivery_id,
                False,
                error=f"no answer within {self.settings.timeout_seconds:g} seconds",
            )
        except requests.RequestException as exc:
            return Attempt(
                item.delivery_id, False, error=f"could not reach the receiver: {type(exc).__name__}"
            )
        with response:
            if 200 <= response.status_code < 300:
                return Attempt(item.delivery_id, True, response_code=response.status_code)
            return Attempt(
                item.delivery_id,
                False,
                response_code=response.status_code,
                error=_describe(response),
                retry_after=_retry_after(response),
            )

    def _prune_if_due(self) -> None:
        """Delete the delivery log's old finished rows, a bounded number at a time."""
        days = self.settings.keep_deliveries_days
        if days <= 0 or time.monotonic() - self._last_pruning < PRUNE_EVERY_SECONDS:
            return
        self._last_pruning = time.monotonic()
        with self.database.transaction() as session:
            pruned = prune_webhook_deliveries(
                session, self.clock() - timedelta(days=days), PRUNE_BATCH
            )
        if pruned:
            log.info("deleted %d webhook deliveries older than %d days", pruned, days)

    def _recover_if_due(self) -> None:
        if time.monotonic() - self._last_recovery < min(15.0, self.settings.lease_seconds / 2):
            return
        self._last_recovery = time.monotonic()
        with self.database.transaction() as session:
            requeued = requeue_expired_leases(
                session,
                WebhookDelivery,
                pending=W.PENDING,
                sending=W.SENDING,
                now=self.clock(),
                error="retried after a worker stopped",
            )
        if requeued:
            log.warning("expired leases: %d webhook deliveries requeued", requeued)
