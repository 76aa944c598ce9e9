"""Adapters for the worker, built from channel accounts and kept for the worker's life.

Each worker thread has its own `AccountAdapters`, so an adapter (an SMTP connection, an
HTTP session) is reused across batches but never shared between threads.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import build_adapter
from campaign_manager.channels.base import ChannelAdapter
from campaign_manager.channels.models import ChannelAccount, RateLimits
from campaign_manager.channels.registry import AdapterNotAvailable, adapter_class
from campaign_manager.core.db import Database

# Limits and settings edited in the UI reach running workers within this time.
REFRESH_SECONDS = 30.0


class AccountAdapters:
    def __init__(self, database: Database, instance_path: Path | str) -> None:
        self.database = database
        self.instance_path = Path(instance_path)
        self._adapters: dict[int, tuple[float, ChannelAdapter]] = {}
        self._limits: dict[int, tuple[float, RateLimits]] = {}

    def adapter(self, account_id: int) -> ChannelAdapter:
        cached = self._adapters.get(account_id)
        if cached and time.monotonic() - cached[0] < REFRESH_SECONDS:
            return cached[1]
        if cached:
            cached[1].close()
        with self.database.transaction() as session:
            account = session.get(ChannelAccount, account_id)
            if account is None:
                raise LookupError(f"channel account {account_id} does not exist")
            adapter = build_adapter(account, instance_path=self.instance_path)
            self._limits[account_id] = (time.monotonic(), account.rate_limits)
        self._adapters[account_id] = (time.monotonic(), adapter)
        return adapter

    def rate_limits(self, account_id: int) -> RateLimits:
        cached = self._limits.get(account_id)
        if cached and time.monotonic() - cached[0] < REFRESH_SECONDS:
            return cached[1]
        with self.database.transaction() as session:
            account = session.get(ChannelAccount, account_id)
            limits = account.rate_limits if account else RateLimits()
        self._limits[account_id] = (time.monotonic(), limits)
        return limits

    def idempotent_account_ids(self, session: Session) -> list[int]:
        ids = []
        for account_id, adapter_name in session.execute(
            select(ChannelAccount.id, ChannelAccount.adapter)
        ):
            try:
                if getattr(adapter_class(adapter_name), "idempotent", False):
                    ids.append(account_id)
            except AdapterNotAvailable:
                continue
        return ids

    def close(self) -> None:
        for _, adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
