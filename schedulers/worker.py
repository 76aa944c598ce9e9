"""Delivery workers: claim due deliveries, render each one, hand it to its adapter, record.

No transaction is open while a provider is being called. A worker owns its adapters (an
SMTP connection is reused across a batch), so threads never share one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, joinedload

from campaign_manager.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from campaign_manager.channels.base import (
    ChannelAdapter,
    Failed,
    RenderedMessage,
    RetryLater,
    SendResult,
)
from campaign_manager.channels.models import RateLimits
from campaign_manager.core.db import Database, utcnow
from schedulers.outbox import (
    Outcome,
    claim_due_deliveries,
    record_outcomes,
    recover_expired_leases,
    release_unsent,
    skip_claimed,
)
from schedulers.retry import RetryPolicy
from schedulers.throttle import take_slots
from schedulers.webhooks import WebhookSender

log = logging.getLogger(__name__)

# Recording a batch's outcomes is retried this often when the connection drops (a
# database restart or failover), waiting a little longer each time.
RECORD_ATTEMPTS = 4
RECORD_RETRY_SECONDS = 0.5
UNTRIED = "the worker stopped before sending it; it will be sent shortly"


class RenderError(Exception):
    """The delivery cannot be rendered (a missing creative, a broken template)."""


class NotEligibleAnyMore(Exception):
    """Since the step was materialised, the recipient unsubscribed, bounced or was erased."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = DeliveryStatus(status)
        self.reason = reason


class Renderer(Protocol):
    def render(self, session: Session, delivery: Delivery) -> RenderedMessage: ...


class AdapterSource(Protocol):
    """Builds adapters for channel accounts and knows each account's limits."""

    def adapter(self, account_id: int) -> ChannelAdapter: ...

    def rate_limits(self, account_id: int) -> RateLimits: ...

    def idempotent_account_ids(self, session: Session) -> list[int]: ...


@dataclass
class WorkerSettings:
    batch_size: int = 50
    lease_seconds: float = 300.0
    idle_sleep_seconds: float = 1.0
    # How stale our view of a campaign's status may get while sending a batch.
    status_check_seconds: float = 0.5
    recover_every_seconds: float = 15.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def idempotency_key(delivery_id: int) -> str:
    """The same key for every attempt of a delivery, so an idempotent provider dedupes."""
    return f"cm-delivery-{delivery_id}"


def worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}{':' + suffix if suffix else ''}"


class DeliveryWorker:
    def __init__(
        self,
        database: Database,
        renderer: Renderer,
        adapters: AdapterSource,
        settings: WorkerSettings | None = None,
        name: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.database = database
        self.renderer = renderer
        self.adapters = adapters
        self.settings = settings or WorkerSettings()
        self.name = name or worker_name(threading.current_thread().name)
        self.clock = clock
        # Outgoing webhooks go through the same workers, between delivery batches.
        self.webhooks = webhooks
        self._last_recovery = 0.0

    # --- one batch ---------------------------------------------------------------------------

    def run_batch(self) -> int:
        """Claim, send and record one batch; return how many deliveries were handled."""
        self._recover_if_due()
        with self.database.transaction() as session:
            ids = claim_due_deliveries(
                session,
                self.name,
                limit=self.settings.batch_size,
                lease_seconds=self.settings.lease_seconds,
                now=self.clock(),
            )
        if not ids:
            return 0
        outcomes: list[Outcome] = []
        try:
            granted = self._take_throttle_slots(ids)
            rendered = self._render(granted, outcomes)
        except Exception:
            # Nothing was sent: give the rows back now instead of leaving them to lease
            # recovery, which would have to call them `uncertain`.
            self._write(lambda session: release_unsent(session, ids, self.clock(), UNTRIED))
            raise
        statuses = _CampaignStatusCache(self.database, self.settings.status_check_seconds)
        # Accounts whose provider asked us to wait (429, 503 with Retry-After, a dropped
        # connection): the rest of the batch for them goes back untried, not sent anyway.
        held_until: dict[int, datetime] = {}
        held: dict[int, list[int]] = defaultdict(list)
        untried: list[int] = []
        try:
            for position, (delivery_id, campaign_id, account_id, message) in enumerate(rendered):
                status = statuses.get(campaign_id)
                if status is not CampaignStatus.RUNNING:
                    self._stop_early(rendered[position:], status, outcomes)
                    break
                if account_id in held_until:
                    held[account_id].append(delivery_id)
                    continue
                result = self._send(account_id, delivery_id, message)
                outcomes.append(
                    Outcome(delivery_id, result, idempotent=self._is_idempotent(account_id))
                )
                if isinstance(result, RetryLater) and result.after_seconds:
                    held_until[account_id] = self.clock() + timedelta(seconds=result.after_seconds)
        except Exception:
            # The database went away mid-batch (a status check): keep what is known.
            log.exception("worker %s: stopped sending its batch early", self.name)
            done = {o.delivery_id for o in outcomes}.union(*held.values())
            untried = [item[0] for item in rendered if item[0] not in done]

        def record(session: Session) -> None:
            record_outcomes(
                session, outcomes, self.settings.retry, worker=self.name, now=self.clock()
            )
            for account_id, held_ids in held.items():
                release_unsent(
                    session, held_ids, held_until[account_id], "the provider asked us to wait"
                )
            release_unsent(session, untried, self.clock(), UNTRIED)

        # The messages are out by now: giving up here would leave the rows to lease
        # recovery, which must call them `uncertain` although this worker knows the answer.
        self._write(record)
        return len(ids)

    def _write(self, work: Callable[[Session], None]) -> None:
        """Run `work` in a transaction, again if the database connection was lost.

        Every write here only touches rows still in `sending` (record_outcomes also checks
        they are this worker's), so repeating one whose commit did land changes nothing.
        """
        for attempt in range(RECORD_ATTEMPTS):
            try:
                with self.database.transaction() as session:
                    work(session)
                return
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == RECORD_ATTEMPTS - 1:
                    raise
                log.warning("worker %s: lost the database while writing; retrying", self.name)
                time.sleep(RECORD_RETRY_SECONDS * (attempt + 1))

    def _take_throttle_slots(self, ids: list[int]) -> list[int]:
        by_account: dict[int, list[int]] = defaultdict(list)
        with self.database.transaction() as session:
            for delivery_id, account_id in session.execute(
                select(Delivery.id, Delivery.channel_account_id)
                .where(Delivery.id.in_(ids))
                .order_by(Delivery.id)
            ):
                by_account[account_id].append(delivery_id)
        # Read outside any transaction of ours: on SQLite a second one would wait on it.
        limits = {account_id: self.adapters.rate_limits(account_id) for account_id in by_account}
        granted: list[int] = []
        with self.database.transaction() as session:
            now = self.clock()
            for account_id, account_ids in by_account.items():
                count, retry_at = take_slots(
                    session, account_id, limits[account_id], len(account_ids), now
                )
                granted.extend(account_ids[:count])
                release_unsent(
                    session,
                    account_ids[count:],
                    retry_at or now + timedelta(seconds=1),
                    "throttled",
                )
        return granted

    def _render(
        self, ids: list[int], outcomes: list[Outcome]
    ) -> list[tuple[int, int, int, RenderedMessage]]:
        rendered = []
        # Rendering only reads (a print PDF can take seconds): no write lock held meanwhile.
        with self.database.reading() as session:
            deliveries = session.scalars(
                select(Delivery)
                .where(Delivery.id.in_(ids))
                .options(joinedload(Delivery.step))
                .order_by(Delivery.id)
            ).all()
            # Optional: a renderer may load what the whole batch needs at once.
            prepare = getattr(self.renderer, "prepare", None)
            if prepare is not None:
                prepare(session, deliveries)
            for delivery in deliveries:
                try:
                    message = self.renderer.render(session, delivery)
                except RenderError as exc:
                    outcomes.append(
                        Outcome(delivery.id, Failed(f"could not render: {exc}"), before_send=True)
                    )
                    continue
                except NotEligibleAnyMore as exc:
                    outcomes.append(
                        Outcome(
                            delivery.id,
                            Failed(exc.reason),
                            before_send=True,
                            final_status=exc.status,
                        )
                    )
                    continue
                rendered.append(
                    (delivery.id, delivery.step.campaign_id, delivery.channel_account_id, message)
                )
        # Adapters are built (and may read their account) outside the render transaction.
        valid = []
        for item in rendered:
            delivery_id, _campaign_id, account_id, message = item
            problems = self.adapters.adapter(account_id).validate(message)
            if problems:
                reason = "; ".join(f"{p.field}: {p.message}" for p in problems)
                outcomes.append(Outcome(delivery_id, Failed(reason), before_send=True))
            else:
                valid.append(item)
        return valid

    def _send(self, account_id: int, delivery_id: int, message: RenderedMessage) -> SendResult:
        adapter = self.adapters.adapter(account_id)
        try:
            return adapter.send(message, idempotency_key=idempotency_key(delivery_id))
        except Exception as exc:  # an adapter bug must not kill the worker or lose the row
            log.exception("adapter %s raised while sending delivery %s", adapter.name, delivery_id)
            return Failed(f"adapter error: {type(exc).__name__}", permanent=False)

    def _stop_early(self, remaining, status, outcomes) -> None:
        ids = [item[0] for item in remaining]
        with self.database.transaction() as session:
            if status is CampaignStatus.CANCELLED:
                skip_claimed(session, ids, "campaign cancelled")
            else:
                release_unsent(
                    session, ids, self.clock(), f"campaign {status.value if status else 'gone'}"
                )

    def _is_idempotent(self, account_id: int) -> bool:
        return bool(getattr(self.adapters.adapter(account_id), "idempotent", False))

    def _recover_if_due(self) -> None:
        if time.monotonic() - self._last_recovery < self.settings.recover_every_seconds:
            return
        self._last_recovery = time.monotonic()
        with self.database.transaction() as session:
            requeued, uncertain = recover_expired_leases(
                session, self.adapters.idempotent_account_ids(session), now=self.clock()
            )
        if requeued or uncertain:
            log.warning(
                "expired leases: %d deliveries requeued, %d marked uncertain", requeued, uncertain
            )

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.name)
        while not stop.is_set():
            handled = 0
            try:
                handled += self.run_batch()
            except Exception:
                log.exception("worker %s: batch failed; retrying shortly", self.name)
            if self.webhooks is not None:
                try:
                    handled += self.webhooks.run_batch()
                except Exception:
                    log.exception("worker %s: webhook batch failed; retrying shortly", self.name)
            if not handled:
                stop.wait(self.settings.idle_sleep_seconds)
        log.info("worker %s stopped", self.name)


class _CampaignStatusCache:
    """Campaign statuses re-read at most every `max_age` seconds while a batch is sent.

    Pause and cancel reach a running batch within that time; a cancel is confirmed only
    once no delivery is left in `sending` (see campaigns.workflow.in_flight_count).
    """

    def __init__(self, database: Database, max_age: float) -> None:
        self.database = database
        self.max_age = max_age
        self.read_at = -1e9
        self.statuses: dict[int, CampaignStatus] = {}

    def get(self, campaign_id: int) -> CampaignStatus | None:
        if campaign_id not in self.statuses or time.monotonic() - self.read_at > self.max_age:
            with self.database.transaction() as session:
                ids = set(self.statuses) | {campaign_id}
                self.statuses = dict(
                    session.execute(
                        select(Campaign.id, Campaign.status).where(Campaign.id.in_(ids))
                    ).all()
                )
            self.read_at = time.monotonic()
        return self.statuses.get(campaign_id)
