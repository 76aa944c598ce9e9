"""Running the engine: the scheduler process, worker threads, and both inside `serve`.

The CLI calls these; tests call them too, so the processes they start are the real ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from campaign_manager.core.config import Settings
from campaign_manager.core.db import Database
from schedulers import jobs
from schedulers.adapters import AccountAdapters
from schedulers.lock import SchedulerLock
from schedulers.retry import RetryPolicy
from schedulers.webhooks import WebhookSender, WebhookSenderSettings
from schedulers.worker import DeliveryWorker, Renderer, WorkerSettings, worker_name

log = logging.getLogger(__name__)


def worker_settings(settings: Settings) -> WorkerSettings:
    delivery = settings.delivery
    return WorkerSettings(
        batch_size=delivery.batch_size,
        lease_seconds=delivery.lease_seconds,
        # Look for a crashed worker's rows about twice per lease.
        recover_every_seconds=min(15.0, delivery.lease_seconds / 2),
        retry=RetryPolicy(
            max_attempts=delivery.max_attempts, base_seconds=delivery.retry_base_seconds
        ),
    )


def run_scheduler(
    database: Database,
    settings: Settings,
    stop: threading.Event,
    *,
    blocking: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> None:
    """The single scheduler: wait for the lock, then run until `stop` is set.

    `blocking` runs APScheduler's BlockingScheduler in this thread (the `scheduler`
    command); otherwise a BackgroundScheduler (inside `serve`). Either way a watcher stops
    it when `stop` is set or when the lock is lost, so no step can fire twice.
    """
    lock = SchedulerLock(database, holder=worker_name("scheduler"))
    if not lock.acquire(stop=stop, on_wait=on_wait):
        return
    scheduler = jobs.prepare_scheduler(database, settings, blocking=blocking)

    def watch() -> None:
        while not stop.wait(5):
            if not lock.still_held():
                log.error("scheduler lock lost; stopping so that no step fires twice")
                break
        # A BlockingScheduler's thread is the one waiting in start(); do not wait for it.
        scheduler.shutdown(wait=not blocking)

    watcher = threading.Thread(target=watch, name="scheduler-watch", daemon=True)
    log.info("scheduler started")
    try:
        watcher.start()
        scheduler.start()  # blocks here when blocking
        if not blocking:
            watcher.join()
    finally:
        stop.set()
        jobs.stop_scheduler(scheduler)
        lock.release()
        log.info("scheduler stopped")


def start_workers(
    database: Database,
    settings: Settings,
    renderer_factory: Callable[[], Renderer],
    count: int,
    stop: threading.Event,
) -> list[threading.Thread]:
    """`count` worker threads, each with its own renderer and adapters."""
    threads = []
    for number in range(count):

        def work(number: int = number) -> None:
            adapters = AccountAdapters(database, settings.instance_dir)
            name = worker_name(f"w{number}")
            webhooks = WebhookSender(
                database, WebhookSenderSettings.from_settings(settings), name=name
            )
            worker = DeliveryWorker(
                database,
                renderer_factory(),
                adapters,
                worker_settings(settings),
                name=name,
                webhooks=webhooks,
            )
            try:
                worker.run(stop)
            finally:
                adapters.close()
                webhooks.close()

        thread = threading.Thread(target=work, name=f"delivery-worker-{number}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


@dataclass
class EmbeddedEngine:
    """The scheduler and workers inside the web process (`campaign-manager serve`)."""

    database: Database
    settings: Settings
    renderer_factory: Callable[[], Renderer]
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        scheduler_thread = threading.Thread(
            target=run_scheduler,
            args=(self.database, self.settings, self.stop),
            name="scheduler",
            daemon=True,
        )
        scheduler_thread.start()
        workers = start_workers(
            self.database,
            self.settings,
            self.renderer_factory,
            self.settings.scheduler.embedded_workers,
            self.stop,
        )
        self.threads = [scheduler_thread, *workers]

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
