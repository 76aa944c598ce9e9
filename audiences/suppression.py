"""The suppression list: addresses that get no more mail, whatever segment they are in.

Entries are keyed by the hash of the address (see `email_hash`), so they also match a
contact imported again after being erased. Which reasons stop which channels is decided where
deliveries are made (`audiences.recipients`).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.contacts import AudienceError, email_hash, find_contact_by_email, record_consent
from audiences.models import ConsentChannel, ConsentStatus, Contact, Suppression, SuppressionReason
from campaign_manager.core.db import utcnow

# These reasons mean the person said no: their email consent is withdrawn in the history too.
_WITHDRAWS_CONSENT = {SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINED}


def _address_of(email_or_contact: str | Contact) -> tuple[str, Contact | None]:
    if isinstance(email_or_contact, Contact):
        if not email_or_contact.email:
            raise AudienceError(
                f"contact #{email_or_contact.id} has no email address to suppress; "
                "withdraw their consent per channel instead"
            )
        return email_or_contact.email, email_or_contact
    address = email_or_contact.strip()
    if not address or "@" not in address:
        raise AudienceError(f"'{address}' is not an email address")
    return address, None


def suppression_for(session: Session, email_or_contact: str | Contact) -> Suppression | None:
    address, _contact = _address_of(email_or_contact)
    return session.scalar(
        select(Suppression).where(Suppression.address_hash == email_hash(address))
    )


def is_suppressed(session: Session, email_or_contact: str | Contact) -> bool:
    """Whether the address is on the suppression list, for any reason."""
    return suppression_for(session, email_or_contact) is not None


def suppress(
    session: Session,
    email_or_contact: str | Contact,
    reason: SuppressionReason | str,
    source: str,
    *,
    ip: str | None = None,
) -> Suppression:
    """Put an address on the suppression list; the bounce and complaint webhooks call this.

    Suppressing an address twice keeps one entry with the weightier reason (see
    `SuppressionReason.rank`). An unsubscribe or complaint also withdraws the contact's email
    consent in their history, with `source` and `ip`. The caller commits.
    """
    reason = SuppressionReason(reason)
    address, contact = _address_of(email_or_contact)
    key = email_hash(address)
    entry = session.scalar(select(Suppression).where(Suppression.address_hash == key))
    if entry is None:
        entry = Suppression(
            address_hash=key,
            email=None if reason is SuppressionReason.ERASED else address,
            reason=reason,
            source=source[:200],
            created_at=utcnow(),
        )
        session.add(entry)
    elif reason.rank > entry.reason.rank:
        entry.reason, entry.source, entry.created_at = reason, source[:200], utcnow()
        if reason is SuppressionReason.ERASED:
            entry.email = None
    if reason in _WITHDRAWS_CONSENT:
        contact = contact or find_contact_by_email(session, address)
        if contact is not None and contact.consent_email is not ConsentStatus.WITHDRAWN:
            record_consent(
                session, contact, ConsentChannel.EMAIL, ConsentStatus.WITHDRAWN, source, ip=ip
            )
    session.flush()
    return entry


def lift_suppression(
    session: Session, email_or_contact: str | Contact, allowed: Collection[SuppressionReason]
) -> bool:
    """Remove the address from the list if its reason is one of `allowed`; True if removed.

    Staff may lift manual suppressions and bounces; a contact resubscribing lifts their own
    unsubscribe or complaint. Erasures are never lifted.
    """
    entry = suppression_for(session, email_or_contact)
    if entry is None or entry.reason not in allowed or entry.reason is SuppressionReason.ERASED:
        return False
    session.delete(entry)
    session.flush()
    return True
