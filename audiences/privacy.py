"""Privacy requests: everything held about one contact, and erasing them.

Erasing deletes the contact with its tags, consent history and rejected import rows, and
leaves only the hash of the address on the suppression list, so a later import of the
same address cannot bring it back into mailings. Tables added later that point at contacts
(deliveries, events) must either cascade or be cleared by the caller of `erase_contact`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from audiences.contacts import age_band, consent_history, email_hash, tags_of
from audiences.models import Contact, ImportJob, ImportReject, SuppressionReason
from audiences.segments import today_utc
from audiences.suppression import suppress, suppression_for
from campaign_manager.core.db import utcnow

CONTACT_FIELDS = (
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "role",
    "school",
    "region",
    "postal_code",
    "graduation_year",
    "birth_year",
    "birth_date",
    "timezone",
    "locale",
    "attributes",
    "consent_email",
    "consent_print",
    "consent_parental",
    "created_at",
    "updated_at",
)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def export_contact_data(session: Session, contact: Contact) -> dict[str, Any]:
    """A JSON-ready document of everything stored about the contact."""
    suppression = suppression_for(session, contact) if contact.email else None
    imports = session.execute(
        select(ImportJob.id, ImportJob.filename, ImportJob.created_at).where(
            ImportJob.id == contact.import_job_id
        )
    ).all()
    rejected_rows = (
        session.scalars(
            select(ImportReject).where(ImportReject.email_hash == email_hash(contact.email))
        ).all()
        if contact.email
        else []
    )
    return {
        "exported_at": utcnow().isoformat(),
        "contact": {name: _plain(getattr(contact, name)) for name in CONTACT_FIELDS},
        "age_band": age_band(contact.birth_date_latest, today_utc()).value,
        "tags": tags_of(session, contact.id),
        "consent_history": [
            {
                "channel": c.channel.value,
                "status": c.status.value,
                "source": c.source,
                "ip": c.ip,
                "import_job_id": c.import_job_id,
                "recorded_at": c.recorded_at.isoformat(),
            }
            for c in reversed(consent_history(session, contact.id))
        ],
        "suppression": (
            {
                "reason": suppression.reason.value,
                "source": suppression.source,
                "since": suppression.created_at.isoformat(),
            }
            if suppression
            else None
        ),
        "last_import": (
            {
                "id": imports[0].id,
                "file": imports[0].filename,
                "at": imports[0].created_at.isoformat(),
            }
            if imports
            else None
        ),
        "rejected_import_rows": [
            {"import_job_id": r.job_id, "line": r.line, "reason": r.reason, "values": r.values}
            for r in rejected_rows
        ],
    }


def erase_contact(session: Session, contact: Contact, *, source: str) -> None:
    """Delete the contact and what refers to them; keep the address hash as suppressed."""
    if contact.email:
        suppress(session, contact, SuppressionReason.ERASED, source)
        session.execute(
            delete(ImportReject).where(ImportReject.email_hash == email_hash(contact.email))
        )
    # Tags and consent history go with the contact (ON DELETE CASCADE).
    session.delete(contact)
    session.flush()
