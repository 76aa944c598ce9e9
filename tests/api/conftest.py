"""Fixtures for the API tests: a token per role and a client that sends it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from campaign_manager.core.accounts import Role
from campaign_manager.core.api_tokens import create_token

# The live webhook receiver and the sender, for the webhooks API's end-to-end test.
from tests.webhook_receiver import clock, make_sender, receiver  # noqa: F401


class ApiClient:
    """The Flask test client, sending a bearer token and JSON; no cookies, no CSRF."""

    def __init__(self, app: Flask, secret: str | None) -> None:
        self.client = app.test_client(use_cookies=False)
        self.secret = secret

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, *, headers=None, **kwargs: Any):
        return self.client.open(path, method=method, headers=self.headers(headers), **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def tokens(users, db) -> dict[str, str]:
    """A usable token secret per role (the `users` fixture's users)."""
    secrets = {}
    for role in Role:
        secrets[role.value] = create_token(db, users[role.value], f"{role.value} test").secret
    db.commit()
    return secrets


@pytest.fixture
def api(app, tokens) -> SimpleNamespace:
    """`api.admin.get(...)`, `api.marketer.post(...)`, ..., and `api.anonymous`."""
    clients = {role: ApiClient(app, secret) for role, secret in tokens.items()}
    return SimpleNamespace(**clients, anonymous=ApiClient(app, None))


def bare_print_job(db, vendor, key: str):
    """A print job row without files: enough for access checks, without rendering a PDF
    (tests/api/test_print_jobs.py uses real ones)."""
    from datetime import date

    from campaign_manager.channels.print_jobs import PrintJob

    job = PrintJob(
        idempotency_key=key,
        vendor_id=vendor.id,
        title="Bare job",
        quantity=10,
        profile="letter",
        paper_stock="100 lb gloss text",
        due_date=date(2030, 1, 1),
    )
    db.add(job)
    db.flush()
    return job
