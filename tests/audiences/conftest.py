"""Helpers for the audience tests: contacts made in one line, built-in segments present."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from audiences.contacts import create_contact
from audiences.models import ConsentStatus, Contact, ContactRole
from audiences.segments import ensure_builtin_segments


def add_contact(
    db: Session,
    email: str | None,
    *,
    role: ContactRole = ContactRole.STUDENT,
    birth_date: date | None = None,
    birth_year: int | None = None,
    consent_email: ConsentStatus = ConsentStatus.GRANTED,
    **fields: Any,
) -> Contact:
    contact = create_contact(
        db,
        email,
        role=role,
        birth_date=birth_date,
        birth_year=birth_year,
        consent_email=consent_email,
        **fields,
    )
    db.commit()
    return contact


@pytest.fixture
def builtins(db: Session) -> None:
    """The migration creates them; on PostgreSQL the tables are emptied between tests."""
    ensure_builtin_segments(db)
    db.commit()
