"""Who may receive a delivery: the segment's members, each classified for one channel kind.

The delivery engine materialises deliveries from `recipient_batches`: every member comes back,
as `eligible`, `suppressed` or `skipped` with the reason, so nothing disappears silently.
The rules for minors are enforced here, where deliveries are made, not only in the UI:

- under 13 (COPPA): skipped on every channel until a parent's consent is recorded, because
  every message made for one person carries links that identify them when followed;
- under 18: never an open-tracking pixel (`allow_open_tracking` is False). A student of
  unknown age counts as a minor for this; other roles of unknown age count as adults.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.orm import Session

from audiences.contacts import AudienceError, age_band, may_track_opens
from audiences.importer import in_list
from audiences.models import (
    AgeBand,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactRole,
    Segment,
    Suppression,
    SuppressionReason,
)
from audiences.segments import compile_condition, today_utc


class RecipientStatus(enum.StrEnum):
    ELIGIBLE = "eligible"
    SUPPRESSED = "suppressed"
    SKIPPED = "skipped"


class SkipReason(enum.StrEnum):
    NO_EMAIL = "no_email"
    MINOR_WITHOUT_PARENTAL_CONSENT = "minor_without_parental_consent"
    NO_CONSENT = "no_consent"


@dataclass(frozen=True)
class ChannelPolicy:
    # The consent that must be granted, if the channel addresses people at all.
    consent: ConsentChannel | None
    needs_email: bool
    # Suppression reasons that stop this channel: a bounce or an email unsubscribe says
    # nothing about printed mail, but a complaint, a manual block or an erasure stops all.
    suppressed_by: frozenset[SuppressionReason]
    can_track_opens: bool


_STOP_EVERYTHING = frozenset(
    {SuppressionReason.COMPLAINED, SuppressionReason.MANUAL, SuppressionReason.ERASED}
)
CHANNEL_POLICIES: dict[str, ChannelPolicy] = {
    "email": ChannelPolicy(
        ConsentChannel.EMAIL, True, frozenset(SuppressionReason), can_track_opens=True
    ),
    "print": ChannelPolicy(ConsentChannel.PRINT, False, _STOP_EVERYTHING, can_track_opens=False),
    "social": ChannelPolicy(None, False, _STOP_EVERYTHING, can_track_opens=False),
    "web": ChannelPolicy(None, False, _STOP_EVERYTHING, can_track_opens=False),
}


def channel_policy(channel_kind: str) -> ChannelPolicy:
    try:
        return CHANNEL_POLICIES[channel_kind]
    except KeyError:
        kinds = ", ".join(CHANNEL_POLICIES)
        raise AudienceError(f"unknown channel kind {channel_kind!r}; use one of: {kinds}") from None


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    email: str | None
    first_name: str
    last_name: str
    role: ContactRole
    school: str
    region: str
    # IANA zone name and language tag; "" when unknown.
    timezone: str
    locale: str
    attributes: dict[str, Any]
    status: RecipientStatus
    # A SuppressionReason for suppressed, a SkipReason for skipped, None when eligible.
    reason: SuppressionReason | SkipReason | None
    allow_open_tracking: bool


_COLUMNS = (
    Contact.id,
    Contact.email,
    Contact.first_name,
    Contact.last_name,
    Contact.role,
    Contact.school,
    Contact.region,
    Contact.timezone,
    Contact.locale,
    Contact.attributes,
    Contact.birth_date_latest,
    Contact.consent_email,
    Contact.consent_print,
    Contact.consent_parental,
    Suppression.reason.label("suppression_reason"),
)


def _query(condition: ColumnElement[bool]):
    # One row per contact: suppressions are unique per address hash.
    return (
        select(*_COLUMNS)
        .outerjoin(Suppression, Suppression.address_hash == Contact.email_hash)
        .where(condition)
    )


def _classify(row: Row[Any], policy: ChannelPolicy, today: date) -> Recipient:
    band = age_band(row.birth_date_latest, today)
    status, reason = RecipientStatus.ELIGIBLE, None
    if row.suppression_reason in policy.suppressed_by:
        status, reason = RecipientStatus.SUPPRESSED, row.suppression_reason
    elif policy.needs_email and not row.email:
        status, reason = RecipientStatus.SKIPPED, SkipReason.NO_EMAIL
    elif band is AgeBand.UNDER_13 and row.consent_parental is not ConsentStatus.GRANTED:
        status, reason = RecipientStatus.SKIPPED, SkipReason.MINOR_WITHOUT_PARENTAL_CONSENT
    elif (
        policy.consent is not None
        and getattr(row, f"consent_{policy.consent.value}") is not ConsentStatus.GRANTED
    ):
        status, reason = RecipientStatus.SKIPPED, SkipReason.NO_CONSENT
    return Recipient(
        contact_id=row.id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        role=row.role,
        school=row.school,
        region=row.region,
        timezone=row.timezone,
        locale=row.locale,
        attributes=dict(row.attributes or {}),
        status=status,
        reason=reason,
        allow_open_tracking=policy.can_track_opens and may_track_opens(band, row.role),
    )


def recipient_batches(
    session: Session,
    segment_id: int,
    channel_kind: str,
    *,
    batch_size: int = 1000,
    after_id: int = 0,
    today: date | None = None,
) -> Iterator[list[Recipient]]:
    """Every member of the segment, classified for `channel_kind`, in batches by contact id.

    One SQL query per batch (keyset: contact id > `after_id`, ascending), so a materialiser
    can commit between batches and resume after the last contact id it stored. `today`
    fixes the date ages are computed on (default: today in UTC).
    """
    policy = channel_policy(channel_kind)
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise AudienceError(f"there is no segment #{segment_id}")
    today = today or today_utc()
    query = _query(compile_condition(session, segment.rules, today=today, slug=segment.slug))
    while True:
        rows = session.execute(
            query.where(Contact.id > after_id).order_by(Contact.id).limit(batch_size)
        ).all()
        if rows:
            yield [_classify(row, policy, today) for row in rows]
            after_id = rows[-1].id
        if len(rows) < batch_size:
            return


def recipient_for(
    session: Session, contact_id: int, channel_kind: str, *, today: date | None = None
) -> Recipient | None:
    """One contact classified for `channel_kind` (a test send, a contact page); None if gone."""
    policy = channel_policy(channel_kind)
    today = today or today_utc()
    row = session.execute(_query(Contact.id == contact_id)).first()
    return _classify(row, policy, today) if row else None


def recipients_for(
    session: Session, contact_ids: Sequence[int], channel_kind: str, *, today: date | None = None
) -> dict[int, Recipient]:
    """`recipient_for` for many contacts in one query, by contact id; the gone are absent.

    The delivery worker checks a whole batch this way just before sending it.
    """
    if not contact_ids:
        return {}
    policy = channel_policy(channel_kind)
    today = today or today_utc()
    rows = session.execute(_query(in_list(session, Contact.id, list(contact_ids))))
    return {row.id: _classify(row, policy, today) for row in rows}
