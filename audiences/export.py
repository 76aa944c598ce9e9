"""Contacts (all, or one segment's members) as CSV, streamed in keyset batches.

The columns are import field names, so an exported file imports again as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from audiences.models import Contact, ContactTag, Segment
from audiences.segments import compile_condition
from campaign_manager.core.security import spreadsheet_cell

EXPORT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "role",
    "school",
    "region",
    "postal_code",
    "graduation_year",
    "birth_year",
    "birth_date",
    "timezone",
    "locale",
    "tags",
    "attributes",
    "consent_email",
    "consent_print",
    "consent_parental",
    "created_at",
)
BATCH = 1000


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "value"):  # enums
        value = value.value
    if isinstance(value, date):
        return value.isoformat()
    return spreadsheet_cell(str(value))


def export_contacts_csv(
    session: Session, segment: Segment | None = None, *, today: date | None = None
) -> Iterator[str]:
    """CSV text in pieces, one per batch of contacts, header first; memory stays constant.

    Give it a session of its own: it ends its read transaction after every batch, so that a
    long export never holds a lock (SQLite transactions take the write lock at BEGIN).
    """
    condition: ColumnElement[bool] = (
        compile_condition(session, segment.rules, today=today, slug=segment.slug)
        if segment
        else true()
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    # Plain rows, not ORM objects: nothing accumulates in the session however many are read.
    columns = [Contact.id, *(getattr(Contact, c) for c in EXPORT_COLUMNS if c != "tags")]
    after = 0
    while True:
        contacts = session.execute(
            select(*columns).where(condition, Contact.id > after).order_by(Contact.id).limit(BATCH)
        ).all()
        tags: dict[int, list[str]] = {}
        if contacts:
            for contact_id, tag in session.execute(
                select(ContactTag.contact_id, ContactTag.tag)
                .where(ContactTag.contact_id.in_([c.id for c in contacts]))
                .order_by(ContactTag.tag)
            ):
                tags.setdefault(contact_id, []).append(tag)
        for contact in contacts:
            row = []
            for column in EXPORT_COLUMNS:
                if column == "tags":
                    row.append(_cell("|".join(tags.get(contact.id, []))))
                elif column == "attributes":
                    attributes = contact.attributes or {}
                    row.append(json.dumps(attributes, ensure_ascii=False) if attributes else "")
                else:
                    row.append(_cell(getattr(contact, column)))
            writer.writerow(row)
        session.rollback()  # see the docstring; nothing was written
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(contacts) < BATCH:
            return
        after = contacts[-1].id
