"""Send one email creative to one address now, through a real email channel account.

Marketers check a creative in real inboxes before it goes into a campaign. The message is
the current version (saved draft included) rendered with sample values, its subject marked
"[Test]"; it records no delivery and counts towards no frequency cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import build_adapter
from campaign_manager.channels.base import (
    ChannelAdapter,
    ChannelKind,
    RenderedMessage,
    SendResult,
)
from campaign_manager.channels.models import AccountStatus, ChannelAccount
from campaign_manager.channels.registry import AdapterNotAvailable, adapter_class
from creatives.email import render_email
from creatives.errors import CreativeError
from creatives.models import Creative, CreativeKind

SAMPLE_RECIPIENT = {"first_name": "Jordan", "last_name": "Rivera", "school": "Lincoln High School"}


class TestSendError(ValueError):
    """Why a test cannot be sent; safe to show."""

    __test__ = False  # not a pytest class, despite the name


@dataclass
class PreparedTest:
    """A rendered test message and the adapter to send it with (no network yet)."""

    message: RenderedMessage
    adapter: ChannelAdapter
    idempotency_key: str


def email_accounts(session: Session) -> list[ChannelAccount]:
    """Active accounts whose adapter sends email: the choices for a test send."""
    accounts = []
    for account in session.scalars(
        select(ChannelAccount)
        .where(ChannelAccount.status == AccountStatus.ACTIVE)
        .order_by(ChannelAccount.display_name)
    ):
        try:
            if adapter_class(account.adapter).kind is ChannelKind.EMAIL:
                accounts.append(account)
        except AdapterNotAvailable:
            continue
    return accounts


def prepare_test_email(
    session: Session,
    *,
    creative_id: int,
    variant_key: str,
    to: str,
    from_address: str,
    account_id: int,
    base_url: str,
    postal_address: str,
    instance_path: Path,
) -> PreparedTest:
    """Render the test and build the adapter; send it with `send_prepared` after the
    caller has ended its transaction (never hold one across the network)."""
    to = _address(to, "recipient")
    from_address = _address(from_address, "sender")
    creative = session.get(Creative, creative_id)
    if creative is None or creative.kind is not CreativeKind.EMAIL:
        raise TestSendError("Only email creatives can be sent as a test.")
    account = next((a for a in email_accounts(session) if a.id == account_id), None)
    if account is None:
        raise TestSendError("Choose an active email channel account to send the test through.")
    base = base_url.rstrip("/")
    context = {
        **SAMPLE_RECIPIENT,
        # The test's links lead nowhere real: nobody is unsubscribed by a test.
        "unsubscribe_url": f"{base}/u/test-send",
        "preferences_url": f"{base}/preferences/test-send",
        "postal_address": postal_address or "(your postal address, from [app] postal_address)",
    }
    try:
        rendered = render_email(session, creative.current_version.id, variant_key, context)
    except CreativeError as exc:
        raise TestSendError(f"The email cannot be rendered: {exc}") from None
    key = f"cm-test-{uuid.uuid4().hex}"
    message = RenderedMessage(
        kind=ChannelKind.EMAIL,
        to=to,
        subject=f"[Test] {rendered.subject}",
        text=rendered.text,
        html=rendered.html,
        from_address=from_address,
        from_name="Campaign Manager test",
        headers={"Message-ID": f"<{key}@{from_address.rpartition('@')[2]}>"},
    )
    adapter = build_adapter(account, instance_path=instance_path)
    problems = adapter.validate(message)
    if problems:
        adapter.close()
        raise TestSendError("; ".join(f"{p.field}: {p.message}" for p in problems))
    return PreparedTest(message, adapter, key)


def send_prepared(prepared: PreparedTest) -> SendResult:
    try:
        return prepared.adapter.send(prepared.message, idempotency_key=prepared.idempotency_key)
    finally:
        prepared.adapter.close()


def _address(raw: str, role: str) -> str:
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise TestSendError(f"The {role} address is not valid: {exc}") from None
