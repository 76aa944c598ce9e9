"""One scheduler at a time: a second one waits instead of firing the same steps twice.

PostgreSQL: a session-level advisory lock on a connection held for the scheduler's life;
the server releases it the moment that process dies. SQLite: a lock row with an expiry
that the holder renews; a holder that stops renewing loses it after `ttl_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Connection

from campaign_manager.campaigns.models import SchedulerLock as LockRow
from campaign_manager.core.db import Database, utcnow

log = logging.getLogger(__name__)


class SchedulerLock:
    def __init__(
        self, database: Database, holder: str, name: str = "scheduler", ttl_seconds: float = 30.0
    ) -> None:
        self.database = database
        self.holder = holder
        self.name = name
        self.ttl = ttl_seconds
        self._connection: Connection | None = None
        self._stop_heartbeat = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.held = False

    @property
    def _advisory_key(self) -> int:
        return zlib.crc32(f"campaign-manager:{self.name}".encode())

    def try_acquire(self) -> bool:
        if self.database.is_sqlite:
            self.held = self._try_lock_row()
        else:
            if self._connection is None:
                self._connection = self.database.engine.connect()
            got = self._connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._advisory_key}
            ).scalar_one()
            self._connection.commit()
            self.held = bool(got)
            if self.held:
                self._record_holder()
        if self.held and self.database.is_sqlite and self._heartbeat is None:
            self._stop_heartbeat.clear()
            self._heartbeat = threading.Thread(
                target=self._renew, name="scheduler-lock", daemon=True
            )
            self._heartbeat.start()
        return self.held

    def acquire(
        self,
        stop: threading.Event | None = None,
        poll_seconds: float = 1.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> bool:
        """Block until the lock is ours (True) or `stop` is set (False)."""
        announced = False
        while not (stop and stop.is_set()):
            if self.try_acquire():
                return True
            if not announced:
                message = (
                    f"another scheduler ({self.current_holder() or 'unknown'}) is running; waiting"
                )
                log.warning(message)
                if on_wait:
                    on_wait(message)
                announced = True
            if stop:
                stop.wait(poll_seconds)
            else:
                time.sleep(poll_seconds)
        return False

    def current_holder(self) -> str | None:
        with self.database.transaction() as session:
            row = session.get(LockRow, self.name)
            return row.holder if row else None

    def release(self) -> None:
        self._stop_heartbeat.set()
        if self._heartbeat:
            self._heartbeat.join(timeout=5)
            self._heartbeat = None
        if self.held:
            with self.database.transaction() as session:
                session.execute(
                    delete(LockRow).where(LockRow.name == self.name, LockRow.holder == self.holder)
                )
        if self._connection is not None:
            self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": self._advisory_key}
            )
            self._connection.commit()
            self._connection.close()
            self._connection = None
        self.held = False

    # --- SQLite lock row ------------------------------------------------------------------

    def _try_lock_row(self) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=self.ttl)
        with self.database.transaction() as session:
            row = session.get(LockRow, self.name)
            if row is None:
                session.add(
                    LockRow(
                        name=self.name, holder=self.holder, heartbeat_at=now, expires_at=expires
                    )
                )
                return True
            if row.holder == self.holder or row.expires_at < now:
                row.holder, row.heartbeat_at, row.expires_at = self.holder, now, expires
                return True
            return False

    def _renew(self) -> None:
        while not self._stop_heartbeat.wait(self.ttl / 3):
            now = utcnow()
            with self.database.transaction() as session:
                renewed = session.execute(
                    update(LockRow)
                    .where(LockRow.name == self.name, LockRow.holder == self.holder)
                    .values(heartbeat_at=now, expires_at=now + timedelta(seconds=self.ttl))
                ).rowcount
            if not renewed:
                log.error("scheduler lock %s was lost", self.name)
                self.held = False
                return

    def _record_holder(self) -> None:
        """On PostgreSQL the advisory lock is the truth; the row only says who holds it."""
        now = utcnow()
        with self.database.transaction() as session:
            session.execute(delete(LockRow).where(LockRow.name == self.name))
            session.add(
                LockRow(
                    name=self.name,
                    holder=self.holder,
                    heartbeat_at=now,
                    expires_at=now + timedelta(days=3650),
                )
            )

    def still_held(self) -> bool:
        if not self.held:
            return False
        if self.database.is_sqlite:
            with self.database.transaction() as session:
                return (
                    session.scalar(select(LockRow.holder).where(LockRow.name == self.name))
                    == self.holder
                )
        return True
